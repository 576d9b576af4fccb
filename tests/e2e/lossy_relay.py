#!/usr/bin/env python3
"""A lossy network in user space (this machine's kernel has no netem): takes
a stream's RTP and RTCP from one multicast group and sends them on to
another, dropping RTP packets at random and in bursts, reproducibly.

    lossy_relay.py --from 239.255.0.1:5004 --to 239.255.0.2:5006 --loss 0.05 \
        [--burst-start P --burst-end P] [--after N] [--seed S] [--counts PATH] \
        [--repair-ports 2,4]

RTCP (port + 1) passes untouched. --repair-ports relays the FEC repair flows
at those offsets from the port too, through the same losses: one channel,
in the order datagrams arrive, as a network path would lose them. Random loss drops each RTP packet with
probability --loss; burst loss (Gilbert-Elliott) enters a bad state with
probability --burst-start per packet, in which every packet is dropped, and
leaves it with probability --burst-end. The first --after packets pass. On
SIGTERM or SIGINT it writes its counts (JSON: forwarded, dropped, and the
sequence numbers dropped) to --counts and exits 0. Only for a private
network namespace: it sends to multicast groups on lo with TTL 1.
"""

import argparse
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (the namespace check)


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def joined_socket(group, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((group, port))
    lo = socket.inet_aton("127.0.0.1")
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + lo)
    return s


def sending_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--from", dest="source", type=endpoint, required=True)
    p.add_argument("--to", dest="target", type=endpoint, required=True)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--burst-start", type=float, default=0.0)
    p.add_argument("--burst-end", type=float, default=1.0)
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--counts", default="")
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--repair-ports", default="",
                   help="offsets from the port of FEC repair flows to relay, lossy: 2,4")
    a = p.parse_args()

    harness.require_private_namespace()  # it sends multicast: never on the host's interfaces
    (src_group, src_port), (dst_group, dst_port) = a.source, a.target
    if not (src_group.startswith("239.") and dst_group.startswith("239.")):
        sys.exit("lossy_relay: only administratively scoped groups (239/8), inside a namespace")
    rtp, rtcp = joined_socket(src_group, src_port), joined_socket(src_group, src_port + 1)
    repairs = {joined_socket(src_group, src_port + int(o)): int(o)
               for o in a.repair_ports.split(",") if o}
    out = sending_socket()
    rng = random.Random(a.seed)
    counts = {"forwarded": 0, "dropped": 0, "dropped_sequences": [],
              "repairs_forwarded": 0, "repairs_dropped": 0}
    bad = False
    seen = 0
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    print("lossy_relay: relaying", flush=True)
    deadline = time.monotonic() + a.max_seconds
    while not stop and time.monotonic() < deadline:
        try:
            ready, _, _ = select.select([rtp, rtcp, *repairs], [], [], 0.1)
        except InterruptedError:
            continue
        for s in ready:
            data = s.recv(65536)
            if s is rtcp:
                out.sendto(data, (dst_group, dst_port + 1))
                continue
            seen += 1
            drop = False
            if seen > a.after:
                bad = (rng.random() >= a.burst_end) if bad else (rng.random() < a.burst_start)
                drop = bad or rng.random() < a.loss
            if s in repairs:
                counts["repairs_dropped" if drop else "repairs_forwarded"] += 1
                if not drop:
                    out.sendto(data, (dst_group, dst_port + repairs[s]))
                continue
            if drop:
                counts["dropped"] += 1
                if len(data) >= 4:
                    counts["dropped_sequences"].append(struct.unpack("!H", data[2:4])[0])
            else:
                counts["forwarded"] += 1
                out.sendto(data, (dst_group, dst_port))
    if a.counts:
        with open(a.counts, "w") as f:
            json.dump(counts, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
