#!/usr/bin/env python3
"""End-to-end tests of the programs as a careless user runs them: a console fed
by `yes`, signals from a closed terminal, bad paths and numbers, files that are
not what they claim, a disk that fills. Real processes inside a private
network namespace.

    tests/network/netns-run python3 tests/e2e/careless.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def yes_status_into_the_console():
    """`yes STATUS | audiocast-server` with an output nobody reads: the console
    neither grows without bound (it took 23.9 GB) nor delays a packet (it sent
    2): the client receives every packet of the run, on time."""
    source = harness.noise(48000, 2, 2, 3.0, seed=21)
    harness.write_wav(e2e.tmp("source.wav"), source)
    yes = subprocess.Popen(["yes", "STATUS"], stdout=subprocess.PIPE)
    unread_r, unread_w = os.pipe()  # the server's stdout: nobody reads it
    try:
        with Children() as children:
            client = e2e.start_clients(children, 1, source, seconds=5.0)[0]
            server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server",
                                    stdin=yes.stdout, stdout_file=unread_w)
            time.sleep(2.5)
            peak = vm_hwm_kib(server.proc.pid)
            expect_exit(server, 0, 15)
            expect_exit(client, 0, 15)
    finally:
        yes.kill()
        yes.wait(5)
        os.close(unread_r)
        os.close(unread_w)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    try:
        harness.expect_starts_after_silence(got, source, "the client's recording",
                                            slipped_frames=harness.server_slipped_frames(server))
    except Failure as f:
        raise Failure(f"{f}; the client's figures: {stats}") from None
    e2e.expect_no_loss(stats, "the client", harness.server_slipped_frames(server))
    if peak > 64 * 1024:
        raise Failure(f"the server's peak memory is {peak} KiB under `yes STATUS`")
    print(f"yes STATUS: peak memory {peak} KiB; {stats['packets_received']} packets, none lost; "
          f"latency p99 {stats['latency_ms']['p99']} ms")


def sighup_ends_both_cleanly():
    """A closed terminal (SIGHUP) ends the client and the server like SIGTERM:
    the client's WAV header is finished and its figures written, and the
    server says BYE (it killed both, leaving a WAV of data size 0 and an
    empty JSON)."""
    source = harness.noise(48000, 2, 2, 10.0, seed=22)
    harness.write_wav(e2e.tmp("source.wav"), source)
    with Children() as children:
        watcher = e2e.start_clients(children, 1, source, seconds=20.0, prefix="watcher")[0]
        client = e2e.start_clients(children, 1, source, seconds=20.0)[0]
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server",
                                stdin=subprocess.PIPE)
        time.sleep(1.5)
        client.proc.send_signal(signal.SIGHUP)
        expect_exit(client, 0, 10)
        server.proc.send_signal(signal.SIGHUP)
        expect_exit(server, 0, 10)
        watcher.proc.send_signal(signal.SIGTERM)
        expect_exit(watcher, 0, 10)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    if got.frames < 48000 // 2:
        raise Failure(f"the client's WAV holds {got.frames} frames after 1.5 s")
    stats = harness.read_json(e2e.tmp("client0.json"))
    if stats["frames_recorded"] != got.frames:
        raise Failure(f"the figures say {stats['frames_recorded']} frames, the WAV holds "
                      f"{got.frames}")
    seen = harness.read_json(e2e.tmp("watcher0.json"))
    if not seen["stream_ended_by_bye"]:
        raise Failure(f"the server hung up without BYE: {seen}")
    print(f"SIGHUP: the client's WAV holds {got.frames} frames and its figures agree; "
          "the server said BYE")


def outputs_checked_before_any_is_touched():
    """A --stats-json that cannot be written refuses the run before the
    --output WAV, which already exists, is touched (it was truncated)."""
    wav = e2e.tmp("keep.wav")
    with open(wav, "wb") as f:
        f.write(b"precious recording")
    with Children() as children:
        c = children.start(e2e.client_cmd("--no-playback", "--output", wav, "--stats-json",
                                          e2e.tmp("no/such/folder/figures.json")), "client")
        expect_exit(c, 1, 10)
        d = children.start(e2e.client_cmd("--no-playback", "--output", wav, "--stats-json",
                                          e2e.tmp("")), "client to a directory")
        expect_exit(d, 2, 10)
    with open(wav, "rb") as f:
        if f.read() != b"precious recording":
            raise Failure("the existing --output file was changed by a refused run")
    said = " ".join(c.stderr_lines)
    if "No such file or directory" not in said or "no/such/folder/figures.json" not in said:
        raise Failure(f"the refusal does not name the path and the reason: {said}")
    if not any("is a directory" in l for l in d.stderr_lines):
        raise Failure(f"a directory as --stats-json is not explained: {d.stderr_lines}")
    print(f"refused before touching anything: {said}")


def a_full_disk_stops_the_recording_at_once():
    """The recording's disk fills (a 256 KiB tmpfs): the client says so at
    once, stops, exits 1, and still writes its figures elsewhere (it went on
    and lost the JSON)."""
    disk = e2e.tmp("small-disk")
    os.makedirs(disk)
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount -t tmpfs -o size=256k tmpfs {disk} && echo ok"],
                           capture_output=True, text=True, timeout=20)
    if probe.returncode != 0 or "ok" not in probe.stdout:
        harness.skip(f"cannot mount a small tmpfs in a mount namespace: {probe.stderr.strip()}")
    source = harness.noise(48000, 2, 2, 8.0, seed=23)
    harness.write_wav(e2e.tmp("source.wav"), source)
    client_args = e2e.client_cmd(*e2e.format_args(source), "--no-playback", "--duration", "20",
                                 "--output", f"{disk}/full.wav", "--stats-json",
                                 e2e.tmp("figures.json"))
    with Children() as children:
        client = children.start(["unshare", "-m", "sh", "-c",
                                 f"mount -t tmpfs -o size=256k tmpfs {disk} && exec \"$@\"",
                                 "sh", *client_args], "client")
        time.sleep(0.5)
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
        started = time.monotonic()
        expect_exit(client, 1, 15)
        took = time.monotonic() - started
        server.end()
    said = " ".join(client.stderr_lines)
    if "No space left" not in said and "space" not in said.lower():
        raise Failure(f"the client does not say the disk is full: {client.transcript()}")
    if took > 4:
        raise Failure(f"the client took {took:.1f} s to stop after the disk filled")
    stats = harness.read_json(e2e.tmp("figures.json"))
    if not stats.get("recording_failed") or stats["packets_received"] == 0:
        raise Failure(f"the figures do not tell the failed recording: {stats}")
    print(f"full disk: stopped {took:.1f} s after the stream started; figures written")


def expect_refused(cases):
    """Each (command, text): the command exits 2, a bad argument, and a line
    of its stderr holds the text."""
    with Children() as children:
        for args, text in cases:
            p = children.start(args, " ".join(args[-3:]))
            expect_exit(p, 2, 10)
            if not any(text in line for line in p.stderr_lines):
                raise Failure(f"{args}: no line of stderr says \"{text}\": {p.stderr_lines}")


def empty_paths_and_numbers_that_are_not():
    """An empty path or a number that is not one (NaN, inf) is a bad argument,
    exit 2 with the option named: `--file ""` streamed the default tone,
    `--output ""` recorded nothing, `--sap-interval nan` was taken."""
    cases = [
        (e2e.server_cmd("--file", ""), "--file"),
        (e2e.server_cmd("--sdp", ""), "--sdp"),
        (e2e.server_cmd("--sap-interval", "nan"), "--sap-interval"),
        (e2e.server_cmd("--sap-interval", "inf"), "--sap-interval"),
        (e2e.server_cmd("--duration", "nan"), "--duration"),
        (e2e.client_cmd("--output", "", "--no-playback"), "--output"),
        (e2e.client_cmd("--stats-json", "", "--no-playback"), "--stats-json"),
        (e2e.client_cmd("--sdp", ""), "--sdp"),
    ]
    expect_refused(cases)
    print(f"{len(cases)} empty paths and non-numbers refused with exit 2")


def settings_out_of_range_name_the_limit():
    """A setting out of its limit is refused with exit 2 and the library's own
    message: the option, the value, the limit and its unit, the same words
    the library's validate() uses (limits.hpp), whatever the option's unit."""
    cases = [
        (e2e.client_cmd("--latency-ms", "9000", "--no-playback"),
         "--latency-ms: playout latency 9000 ms is outside 1-5000 ms"),
        (e2e.client_cmd("--max-rate-ppm", "20000", "--no-playback"),
         "--max-rate-ppm: playout rate adjustment 20000 ppm is outside 0-10000 ppm"),
        (e2e.client_cmd("--rate", "1000", "--no-playback"),
         "--rate: sample rate 1000 Hz is outside 8000-192000 Hz"),
        (e2e.server_cmd("--channels", "0"), "--channels: channel count 0 is outside 1-64"),
        (e2e.server_cmd("--mtu", "100"), "--mtu: MTU 100 bytes is outside 576-65535 bytes"),
        (e2e.server_cmd("--ttl", "300"), "--ttl: hops 300 is outside 0-255"),
        (e2e.server_cmd("--port", "0"), "--port: port 0 is outside 1-65535"),
        (e2e.server_cmd("--spin-us", "5000"), "--spin-us: spin 5000 us is outside 0-2000 us"),
        (e2e.server_cmd("--timer-slack-us", "20000"),
         "--timer-slack-us: timer slack 20000 us is outside 0-10000 us"),
        (e2e.server_cmd("--realtime-priority", "100"),
         "--realtime-priority: real-time priority 100 is outside 0-99"),
        (e2e.client_cmd("--receive-interval-ms", "101", "--no-playback"),
         "--receive-interval-ms: receive interval 101 ms is outside 0-100 ms"),
        (e2e.server_cmd("--fec", "40x40"),
         "--fec 40x40: FEC repair delay (2 x L x D + L) 3240 packets is outside 1-1023 packets"),
        (e2e.client_cmd("--fec", "300x5", "--no-playback"),
         "--fec 300x5: FEC columns (L) 300 is outside 1-255"),
        (e2e.server_cmd("--fec", "0r"), "--fec 0r: FEC columns (L) 0 is outside 1-255"),
        (e2e.server_cmd("--fec", "10"), "--fec '10' is not LxD"),
        (e2e.server_cmd("--fec", "10x10", "--port", "65533"),
         "--port 65533 leaves no ports + 2 and + 4 for --fec's repair flows"),
        # Within its own limit, but packets gathered that long would all reach
        # playout after their time: refused, naming both.
        (e2e.client_cmd("--receive-interval-ms", "30", "--latency-ms", "40", "--no-playback"),
         "--receive-interval-ms 30 must be below half the playout latency (40 ms)"),
    ]
    expect_refused(cases)
    print(f"{len(cases)} settings out of range refused with the library's message")


def help_and_version_win():
    """--help prints the help whatever else is wrong on the line (it printed
    the port's error); --version prints the version."""
    with Children() as children:
        for program in (e2e.server_cmd, e2e.client_cmd):
            h = children.start(program("--help", "--port", "0"), "help")
            expect_exit(h, 0, 10)
            if not any("--port" in l for l in h.lines) or h.stderr_lines:
                raise Failure(f"--help with --port 0: {h.transcript()}")
            v = children.start(program("--version", "--port", "0"), "version")
            expect_exit(v, 0, 10)
            if not v.lines or not re.search(r"audiocast-(server|client) \d+\.\d+\.\d+", v.lines[0]):
                raise Failure(f"--version: {v.transcript()}")
    print("--help and --version win over a bad --port")


def sdp_files_that_are_not():
    """--sdp /dev/zero is refused at 64 KiB (it read 1.85 GB in 8 s) and
    --sdp DIR says it is a directory; both exit 1, naming the file."""
    with Children() as children:
        z = children.start(e2e.client_cmd("--sdp", "/dev/zero", "--no-playback"), "zero")
        expect_exit(z, 1, 10)
        d = children.start(e2e.client_cmd("--sdp", e2e.tmp(""), "--no-playback"), "dir")
        expect_exit(d, 1, 10)
    if not any("/dev/zero" in l and "64 KiB" in l for l in z.stderr_lines):
        raise Failure(f"--sdp /dev/zero: {z.stderr_lines}")
    if not any("is a directory" in l for l in d.stderr_lines):
        raise Failure(f"--sdp DIR: {d.stderr_lines}")
    # An SDP that parses but names a group that is not multicast: the file's
    # fault (exit 1, naming it), not the command line's (it said "see --help").
    with open(e2e.tmp("unicast.sdp"), "w", encoding="utf-8") as f:
        f.write("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1/1\r\nt=0 0\r\n"
                "m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n")
    with Children() as children:
        u = children.start(e2e.client_cmd("--sdp", e2e.tmp("unicast.sdp"), "--no-playback"),
                           "unicast")
        expect_exit(u, 1, 10)
    said = " ".join(u.stderr_lines)
    if "unicast.sdp" not in said or "not a multicast address" not in said or "--help" in said:
        raise Failure(f"an SDP naming a unicast group: {said}")
    print(f"{z.stderr_lines[0]} / {d.stderr_lines[0]} / {said}")


def sdp_with_fec_the_client_cannot_take():
    """An SDP that declares SMPTE 2022-1 repair flows of a 40 x 40 matrix
    (a repair delay of 3,240 packets, past the 1,023 a listener can wait):
    the client says so, naming the limit, and listens to the media alone,
    as a listener that knows no FEC would."""
    with open(e2e.tmp("wide_fec.sdp"), "w", encoding="utf-8") as f:
        f.write("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 239.255.0.1/1\r\n"
                "t=0 0\r\na=group:FEC-FR 1 2 3\r\n"
                "m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\na=mid:1\r\n"
                "m=audio 5006 RTP/AVP 97\r\na=rtpmap:97 2dparityfec/48000\r\n"
                "a=fmtp:97 L=40; D=40\r\na=mid:2\r\n"
                "m=audio 5008 RTP/AVP 97\r\na=rtpmap:97 2dparityfec/48000\r\n"
                "a=fmtp:97 L=40; D=40\r\na=mid:3\r\n")
    with Children() as children:
        c = children.start(e2e.client_cmd("--sdp", e2e.tmp("wide_fec.sdp"), "--no-playback",
                                          "--duration", "1", "--stats-json",
                                          e2e.tmp("wide_fec.json")), "client")
        c.wait_for_line(r"listening on", 10)
        expect_exit(c, 0, 10)
    said = " ".join(c.stderr_lines)
    if "declares FEC this client cannot take" not in said or "1023" not in said:
        raise Failure(f"the client did not say it cannot take the SDP's FEC: {said}")
    if "fec" in harness.read_json(e2e.tmp("wide_fec.json")):
        raise Failure("the client joined FEC it said it could not take")
    print(said)


def escape_codes_in_an_sdp_stay_escaped():
    """An SDP whose bad line is 1 MB of text with escape codes: the error
    echoes it escaped and cut, not raw and whole."""
    with open(e2e.tmp("evil.sdp"), "w", encoding="utf-8") as f:
        f.write("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\n"
                "c=IN IP4 239.255.0.1 \x1b]0;pwned\x07\x1b[2J " + "A" * 60000 + "\r\n"
                "t=0 0\r\nm=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n")
    with Children() as children:
        p = children.start(e2e.client_cmd("--sdp", e2e.tmp("evil.sdp"), "--no-playback"), "evil")
        expect_exit(p, 1, 10)
    said = "\n".join(p.stderr_lines)
    if "\x1b" in said or "\x07" in said:
        raise Failure(f"raw control characters reached the terminal: {said[:200]!r}")
    if len(said) > 1000:
        raise Failure(f"the error echoes {len(said)} characters")
    print(f"escaped and cut: {said}")


def link_local_group_asks_for_an_interface():
    """--group ff02::1 without --interface is a link-local group on no link:
    the message asks for --interface (it said 'Invalid argument')."""
    with Children() as children:
        p = children.start([os.path.join(e2e.BIN, "audiocast-client"), "--group", "ff02::1",
                            "--no-playback", "--duration", "1"], "client")
        expect_exit(p, 2, 10)
    if not any("--interface" in l or "interface" in l for l in p.stderr_lines):
        raise Failure(f"ff02::1 without --interface: {p.stderr_lines}")
    print(p.stderr_lines[0])


def corrupt_file_ends_with_bye():
    """A file that fails to decode halfway: the server says why, says BYE,
    withdraws nothing it did not announce, and exits 1 (it left without BYE)."""
    if not shutil.which("ffmpeg"):
        harness.skip("ffmpeg is not installed (scripts/setup installs it)")
    source = harness.noise(48000, 2, 2, 4.0, seed=24)
    harness.write_wav(e2e.tmp("source.wav"), source)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", e2e.tmp("source.wav"),
                    e2e.tmp("good.flac")], check=True, timeout=60)
    data = bytearray(open(e2e.tmp("good.flac"), "rb").read())
    rng = random.Random(24)
    for at in range(len(data) // 2, len(data), 97):
        data[at] = rng.getrandbits(8)
    with open(e2e.tmp("bad.flac"), "wb") as f:
        f.write(data)
    with Children() as children:
        watcher = e2e.start_clients(children, 1, source, seconds=10.0)[0]
        server = children.start(e2e.server_cmd("--file", e2e.tmp("bad.flac")), "server")
        rc = server.wait(15)
        watcher.proc.send_signal(signal.SIGTERM)
        expect_exit(watcher, 0, 10)
    seen = harness.read_json(e2e.tmp("client0.json"))
    if rc == 0:
        # libsndfile may take the damage as the file's end; then the run is whole.
        if not seen["stream_ended_by_bye"]:
            raise Failure(f"the server ended without BYE: {seen}")
        print("libsndfile read the damaged FLAC to an early end; BYE was said")
        return
    if rc != 1 or not any("bad.flac" in l for l in server.stderr_lines):
        raise Failure(f"the server's exit {rc}: {server.transcript()}")
    if not seen["stream_ended_by_bye"]:
        raise Failure(f"the server failed without BYE: {seen}")
    print(f"{server.stderr_lines[0]}; BYE said")


def latency_never_measured_is_na():
    """A sender whose packets carry no send time and who sends no reports (a
    bare RTP sender): the client says latency n/a and writes null, not 0."""
    source = harness.noise(48000, 2, 2, 1.0, seed=25)
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=2.5)[0]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        frame_bytes = 4
        for k in range(200):
            payload = source.data[k * 240 * frame_bytes:(k + 1) * 240 * frame_bytes]
            payload = bytes(b for i in range(0, len(payload), 2)
                            for b in (payload[i + 1], payload[i]))  # L16 is big-endian
            s.sendto(struct.pack("!BBHII", 0x80, 96, k, k * 240, 0xC0FFEE) + payload,
                     ("239.255.0.1", 5004))
            time.sleep(0.005)
        expect_exit(client, 0, 10)
    stats = harness.read_json(e2e.tmp("client0.json"))
    if stats["packets_received"] < 150:
        raise Failure(f"the client received {stats['packets_received']} packets: {stats}")
    if stats["latency_ms"] is not None or stats["latency_samples"] != 0:
        raise Failure(f"latency_ms is {stats['latency_ms']}, expected null: {stats}")
    if not any("latency n/a" in l for l in client.lines):
        raise Failure(f"the client does not say latency n/a:\n{client.transcript()}")
    print("latency n/a, null in the JSON")


def forged_bye_is_no_end():
    """A BYE forged in the server's name while it streams: a client run with
    --stop-at-end neither stops nor says the stream ended; the real BYE at the
    end stops it before its --duration (it recorded silence forever)."""
    import hostile
    source = harness.noise(48000, 2, 2, 3.0, seed=26)
    harness.write_wav(e2e.tmp("source.wav"), source)
    listener = hostile.Listener()
    forger = hostile.Forger()
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=30.0, latency_ms=200,
                                   extra=("--stop-at-end",))[0]
        listener.start()
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
        addr, port, ssrc, _ = listener.wait_for_sender(5)
        time.sleep(1.0)
        forger.send(addr, port + 1, hostile.GROUP, hostile.PORT + 1, hostile.rtcp_bye(ssrc))
        expect_exit(server, 0, 15)
        started = time.monotonic()
        expect_exit(client, 0, 10)
        took = time.monotonic() - started
        listener.stop.set()
    listener.join(2)
    ended = [i for i, l in enumerate(client.lines) if "the stream has ended" in l]
    if len(ended) != 1 or any("packets again" in l for l in client.lines):
        raise Failure(f"the client said the stream ended {len(ended)} times:\n"
                      f"{client.transcript()}")
    got = harness.read_wav(e2e.tmp("client0.wav"))
    harness.expect_starts_after_silence(got, source, "the client's recording",
                                        slipped_frames=harness.server_slipped_frames(server))
    if took > 3:
        raise Failure(f"--stop-at-end took {took:.1f} s after the server's BYE")
    print(f"a forged BYE mid-stream changed nothing; the real one stopped the client in "
          f"{took:.1f} s")


def packets_too_big_for_the_mtu():
    """--ptime-ms 10 at 48 kHz stereo L16 does not fit a 1500-byte MTU: the
    server says the numbers and what fits (it said only "see --help"); with
    --mtu 9000 (lo carries it) 20 ms packets reach the client bit-exact."""
    source = harness.noise(48000, 2, 2, 1.0, seed=27)
    harness.write_wav(e2e.tmp("source.wav"), source)
    with Children() as children:
        refused = children.start(e2e.server_cmd("--tone", "440", "--ptime-ms", "10"), "refused")
        expect_exit(refused, 2, 10)
        said = " ".join(refused.stderr_lines)
        for part in ("10 ms of L16/48000/2 is 1920 bytes", "1500-byte MTU carries 1444",
                     "--ptime-ms 5", "--mtu 1976"):
            if part not in said:
                raise Failure(f"the refusal lacks '{part}': {said}")
        client = e2e.start_clients(children, 1, source, seconds=3.0, extra=("--mtu", "9000"))[0]
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav"), "--ptime-ms",
                                               "20", "--mtu", "9000"), "server")
        expect_exit(server, 0, 10)
        expect_exit(client, 0, 10)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    harness.expect_starts_after_silence(got, source, "the client's recording",
                                        slipped_frames=harness.server_slipped_frames(server))
    stats = harness.read_json(e2e.tmp("client0.json"))
    e2e.expect_no_loss(stats, "the client", harness.server_slipped_frames(server))
    print(f"{said}; 20 ms packets with --mtu 9000: {stats['packets_received']} packets, exact")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def a_one_frame_file_on_loop_costs_what_a_tone_costs():
    """--file with one frame and --loop (it read and rewound the file for every
    frame: 22 % of a core) costs about what --tone does, measured in one run."""
    harness.write_wav(e2e.tmp("one.wav"), harness.noise(48000, 2, 2, 1 / 48000, seed=28))
    used = {}
    with Children() as children:
        for name, args in (("tone", ("--tone", "440")),
                           ("loop", ("--file", e2e.tmp("one.wav"), "--loop"))):
            server = children.start(e2e.server_cmd(*args, "--quiet"), name, stdin=subprocess.PIPE)
            time.sleep(3.0)
            used[name] = cpu_seconds(server.proc.pid)
            server.send("QUIT\n")
            expect_exit(server, 0, 10)
    if used["loop"] > 2 * used["tone"] + 0.1:
        raise Failure(f"3 s of a one-frame file on loop took {used['loop']:.2f} s of CPU; "
                      f"the tone {used['tone']:.2f} s")
    print(f"3 s: one-frame loop {used['loop']:.2f} s of CPU, tone {used['tone']:.2f} s")


def output_device_by_name_and_pulse_sink():
    """An output device is chosen by (part of) its name, a name that matches
    none is refused listing the devices, and without --device the client
    plays where PULSE_SINK says."""
    source = harness.noise(48000, 2, 2, 1.5, seed=29)
    harness.write_wav(e2e.tmp("source.wav"), source)
    with Children() as children:
        env = e2e.start_pulseaudio(children)
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=second",
                        "rate=48000", "format=s16le", "channels=2"], env=env, check=True,
                       timeout=10, capture_output=True)
        listing = children.start(e2e.client_cmd("--list-devices"), "list", env=env)
        expect_exit(listing, 0, 10)
        names = [l.strip() for l in listing.lines[1:] if l.strip()]
        if not names:
            raise Failure(f"no output device listed:\n{listing.transcript()}")
        wrong = children.start(e2e.client_cmd("--device", "no such speaker", "--duration", "1"),
                               "wrong", env=env)
        expect_exit(wrong, 2, 10)
        if not any("no audio device is called" in l for l in wrong.stderr_lines):
            raise Failure(f"an unknown device name: {wrong.transcript()}")
        # The first listed device, by its name in another case.
        first = re.sub(r"^\d+:?\s*", "", names[0])
        first = re.sub(r"\s*\(.*$", "", first)
        part = first.upper()
        by_name = children.start(e2e.client_cmd("--device", part, "--duration", "1"), "by name",
                                 env=env)
        line = by_name.wait_for_line(r"listening on", 10)
        expect_exit(by_name, 0, 10)
        if "playing on" not in line:
            raise Failure(f"--device {part}: {line}")
        with open(e2e.tmp("second.raw"), "wb") as raw:
            recorder = children.start(
                ["parec", "--device=second.monitor", "--format=s16le", "--rate=48000",
                 "--channels=2", "--raw", "--latency-msec=20"], "parec", env=env,
                stdout_file=raw)
            time.sleep(0.5)
            sink_env = dict(env, PULSE_SINK="second")
            client = e2e.start_clients(children, 1, source, seconds=3.0, playback=True,
                                       env=sink_env, latency_ms=None)[0]
            server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
            expect_exit(server, 0, 10)
            expect_exit(client, 0, 10)
            time.sleep(0.5)
            recorder.end()
    with open(e2e.tmp("second.raw"), "rb") as raw:
        heard = harness.Sound(48000, 2, 2, raw.read())
    if heard.data.strip(b"\0") == b"":
        raise Failure("nothing reached the sink PULSE_SINK names")
    print(f"--device {part} plays on \"{first}\"; PULSE_SINK=second received the stream")


CASES = {
    "output_device_by_name_and_pulse_sink": output_device_by_name_and_pulse_sink,
    "a_one_frame_file_on_loop_costs_what_a_tone_costs":
        a_one_frame_file_on_loop_costs_what_a_tone_costs,
    "packets_too_big_for_the_mtu": packets_too_big_for_the_mtu,
    "yes_status_into_the_console": yes_status_into_the_console,
    "sighup_ends_both_cleanly": sighup_ends_both_cleanly,
    "outputs_checked_before_any_is_touched": outputs_checked_before_any_is_touched,
    "a_full_disk_stops_the_recording_at_once": a_full_disk_stops_the_recording_at_once,
    "empty_paths_and_numbers_that_are_not": empty_paths_and_numbers_that_are_not,
    "help_and_version_win": help_and_version_win,
    "settings_out_of_range_name_the_limit": settings_out_of_range_name_the_limit,
    "sdp_files_that_are_not": sdp_files_that_are_not,
    "sdp_with_fec_the_client_cannot_take": sdp_with_fec_the_client_cannot_take,
    "escape_codes_in_an_sdp_stay_escaped": escape_codes_in_an_sdp_stay_escaped,
    "link_local_group_asks_for_an_interface": link_local_group_asks_for_an_interface,
    "corrupt_file_ends_with_bye": corrupt_file_ends_with_bye,
    "latency_never_measured_is_na": latency_never_measured_is_na,
    "forged_bye_is_no_end": forged_bye_is_no_end,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "careless", e2e.set_up))
