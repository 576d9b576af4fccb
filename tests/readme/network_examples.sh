#!/usr/bin/env bash
# Runs the README's network receiver and sender (tests/readme/extract.py)
# against each other. Run through tests/network/netns-run, which makes the
# private network namespace; anywhere else it skips.
#
#   tests/readme/network_examples.sh RECEIVER SENDER
set -u
[[ ${AUDIOCAST_NETNS:-} == 1 ]] || { echo "SKIP: not inside tests/network/netns-run"; exit 77; }
receiver=$1
sender=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
timeout 20 "$receiver" >receiver.out 2>&1 &
receiver_pid=$!
# Until the receiver has bound the group's port and joined 239.255.0.1
# (/proc/net/igmp lists it as 0100FFEF), at most 5 s: a fixed 0.3 s was too
# short on a loaded host (the CI run of bb82824: the first 19 packets came
# before it joined), and so was the bind alone (the fresh-clone CI of
# bdaa7c3: 13 packets came between its bind and its join).
for _ in $(seq 50); do
    grep -q ":138C " /proc/net/udp && grep -q "0100FFEF" /proc/net/igmp && break
    sleep 0.1
done
sleep 0.1
timeout 20 "$sender" || { echo "FAILED: the sender exited $?"; kill "$receiver_pid"; exit 1; }
wait "$receiver_pid" || { echo "FAILED: the receiver exited $?"; cat receiver.out; exit 1; }
cat receiver.out
grep -q "^m=audio 5004 RTP/AVP 96" stream.sdp || { echo "FAILED: stream.sdp"; cat stream.sdp; exit 1; }
# 5 s of 5 ms packets, each played; 0.3 s of silence before the sender starts.
line=$(cat receiver.out)
[[ $line =~ played\ ([0-9]+)\ audible.*received\ ([0-9]+)\ packets,\ lost\ 0,.*the\ sender\ said\ BYE ]] ||
    { echo "FAILED: the receiver's report is not as expected"; exit 1; }
(( BASH_REMATCH[1] >= 230000 && BASH_REMATCH[2] >= 990 )) ||
    { echo "FAILED: too little was played (${BASH_REMATCH[1]} frames, ${BASH_REMATCH[2]} packets)"; exit 1; }
echo "passed: the README's network sender and receiver"
