#!/usr/bin/env python3
"""End-to-end tests of SAP discovery (RFC 2974) with the real programs inside a
private network namespace: streams announced on every scope's SAP group and on
PipeWire's are found, over IPv4 and IPv6; --sap-group chooses the group; a
flood of announcements costs neither memory nor the real stream, and names
full of escape codes reach the terminal escaped.

    tests/network/netns-run python3 tests/e2e/discovery.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

STRANGER = "127.0.0.2"


def sap_packet(name, msg_hash, origin="127.0.0.2", group="239.255.0.9", deletion=False):
    """A SAP announcement (RFC 2974 §5) of an L16 stream called `name`."""
    sdp = ("v=0\r\no=- 1 1 IN IP4 {o}\r\ns={n}\r\nc=IN IP4 {g}/1\r\nt=0 0\r\n"
           "m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n").format(o=origin, n=name,
                                                                           g=group)
    flags = 0x20 | (0x04 if deletion else 0)
    return (struct.pack("!BBH", flags, 0, msg_hash) + socket.inet_aton(origin) +
            b"application/sdp\0" + sdp.encode("utf-8", "surrogateescape"))


def send_sap(packet, group, port=9875):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((STRANGER, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    s.sendto(packet, (group, port))
    s.close()


def discover(children, seconds, *extra, name="discover"):
    listing = children.start(e2e.client_cmd("--discover", "--duration", str(seconds), *extra),
                             name)
    return listing


def listed(listing, name):
    return next((l for l in listing.lines if l.startswith(f'"{name}"')), None)


def every_scope_and_pipewire():
    """A server on an organization-local group announces on 239.195.255.255,
    one on a global group on 224.2.127.254, and PipeWire on 224.0.0.56: a
    client that is given no group finds all three (it listened on
    239.255.255.255 alone, and found none of them)."""
    with Children() as children:
        org = children.start(e2e.server_cmd("--tone", "440", "--group", "239.192.0.7", "--sap",
                                            "--sap-interval", "1", "--name", "organization",
                                            "--quiet"), "org server",
                             stdin=subprocess.PIPE)
        wide = children.start(e2e.server_cmd("--tone", "440", "--group", "233.252.0.7", "--sap",
                                             "--sap-interval", "1", "--name", "global",
                                             "--quiet"), "global server",
                              stdin=subprocess.PIPE)
        listing = discover(children, 3)
        for _ in range(4):
            send_sap(sap_packet("pipewire stream", 77), "224.0.0.56")
            time.sleep(0.5)
        expect_exit(listing, 0, 10)
        for name, where in (("organization", "239.192.0.7:5004"), ("global", "233.252.0.7:5004"),
                            ("pipewire stream", "239.255.0.9:5004")):
            line = listed(listing, name)
            if line is None or where not in line:
                raise Failure(f"--discover did not list \"{name}\" at {where}:\n"
                              f"{listing.transcript()}")
        heard_on = listing.wait_for_line("listening for SAP announcements on", 1)
        for group in ("239.255.255.255:9875", "239.195.255.255:9875", "224.2.127.254:9875",
                      "224.0.0.56:9875"):
            if group not in heard_on:
                raise Failure(f"--discover does not say it listens on {group}: {heard_on}")
        org.send("QUIT\n")
        wide.send("QUIT\n")
        expect_exit(org, 0, 10)
        expect_exit(wide, 0, 10)
    print("found on 239.195.255.255, 224.2.127.254 and PipeWire's 224.0.0.56")


def chosen_sap_group():
    """--sap-group on both programs: the server announces where PipeWire
    listens, and a client told to listen only there finds it; a client told
    another group does not."""
    with Children() as children:
        srv = children.start(e2e.server_cmd("--tone", "440", "--sap-group", "224.0.0.56:9875",
                                            "--sap-interval", "1", "--name", "for pipewire",
                                            "--quiet"), "server",
                             stdin=subprocess.PIPE)
        there = discover(children, 2.5, "--sap-group", "224.0.0.56", name="there")
        elsewhere = discover(children, 2.5, "--sap-group", "239.195.255.255", name="elsewhere")
        expect_exit(there, 0, 10)
        expect_exit(elsewhere, 0, 10)
        if listed(there, "for pipewire") is None:
            raise Failure(f"not found on 224.0.0.56:\n{there.transcript()}")
        if listed(elsewhere, "for pipewire") is not None:
            raise Failure(f"found on a group it was not announced on:\n{elsewhere.transcript()}")
        srv.send("QUIT\n")
        expect_exit(srv, 0, 10)
        bad = children.start(e2e.client_cmd("--discover", "--sap-group", "10.0.0.1"), "bad")
        expect_exit(bad, 2, 10)
        if not any("not a multicast address" in l for l in bad.stderr_lines):
            raise Failure(f"--sap-group 10.0.0.1 is not explained:\n{bad.transcript()}")
    print("announced and found on --sap-group 224.0.0.56 only")


def discovery_over_ipv6():
    """A server on ff15::1 announces on ff05::2:7ffe; --discover on the same
    interface finds it."""
    if os.environ.get("AUDIOCAST_NETNS_IPV6") != "1":
        harness.skip(os.environ.get("AUDIOCAST_NETNS_IPV6_WHY") or "no IPv6 in the namespace")
    v6 = ["--interface", "v0"]
    with Children() as children:
        srv = children.start(e2e.server_cmd("--tone", "440", "--group", "ff15::1", *v6, "--sap",
                                            "--sap-interval", "1", "--name", "six", "--quiet"),
                             "server", stdin=subprocess.PIPE)
        listing = discover(children, 3, *v6)
        expect_exit(listing, 0, 10)
        line = listed(listing, "six")
        if line is None or "[ff15::1]:5004" not in line:
            raise Failure(f"--discover did not list the IPv6 stream:\n{listing.transcript()}")
        srv.send("QUIT\n")
        expect_exit(srv, 0, 10)
    print(f"over IPv6: {line}")


class SapFlood(threading.Thread):
    """Distinct announcements from one host, `rate` a second, some with names
    full of terminal escape codes, until stopped."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate = rate
        self.sent = 0
        self.stop = threading.Event()

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((STRANGER, 0))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        rng = random.Random(9875)
        filler = "x" * 1000
        start = time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while self.sent < due:
                name = (f"\x1b]0;pwned {self.sent}\x07\x1b[2J" if self.sent % 2 else
                        f"flood {self.sent} {filler}")
                s.sendto(sap_packet(name, rng.getrandbits(16)), ("239.255.255.255", 9875))
                self.sent += 1
            time.sleep(0.002)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def sap_flood_stays_bounded():
    """Thousands of distinct announcements a second from one host, some named
    with escape sequences: the client's memory stays bounded, the real stream
    is still listed, and no raw escape byte reaches its output."""
    flood = SapFlood(rate=4000)
    with Children() as children:
        srv = children.start(e2e.server_cmd("--tone", "440", "--sap", "--sap-interval", "1",
                                            "--name", "studio", "--quiet"), "server",
                             stdin=subprocess.PIPE)
        flood.start()
        # Under AddressSanitizer freed memory waits in a quarantine (256 MB by
        # default) that would look like growth: keep it small.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "quarantine_size_mb=4")
        listing = children.start(e2e.client_cmd("--discover", "--duration", "5"), "discover",
                                 env=env)
        time.sleep(1.5)
        early = vm_hwm_kib(listing.proc.pid)
        time.sleep(3.0)
        peak = vm_hwm_kib(listing.proc.pid)
        expect_exit(listing, 0, 10)
        flood.stop.set()
        srv.send("QUIT\n")
        expect_exit(srv, 0, 10)
    flood.join(2)
    if listed(listing, "studio") is None:
        raise Failure(f"the real stream was not listed under the flood:\n{listing.transcript()}")
    raw = [l for l in listing.lines + listing.stderr_lines if "\x1b" in l or "\x07" in l]
    if raw:
        raise Failure(f"raw control characters reached the terminal: {raw[:3]!r}")
    if not any("\\x1b]0;pwned" in l for l in listing.lines):
        raise Failure(f"the escaped names are not shown:\n{listing.transcript()}")
    # Bounded: no growth while the flood goes on (it grew by about 140 MB/s).
    if peak - early > 16 * 1024 or peak > 128 * 1024:
        raise Failure(f"the client's peak memory grew from {early} to {peak} KiB under a flood of "
                      f"{flood.sent} announcements")
    if len(listing.lines) > 40:
        raise Failure(f"the flood filled the listing: {len(listing.lines)} lines")
    print(f"flood of {flood.sent} announcements: peak memory {early} KiB at 1.5 s, {peak} KiB "
          f"at 4.5 s, "
          f"{len(listing.lines)} lines listed, the real stream among them")


CASES = {
    "every_scope_and_pipewire": every_scope_and_pipewire,
    "chosen_sap_group": chosen_sap_group,
    "discovery_over_ipv6": discovery_over_ipv6,
    "sap_flood_stays_bounded": sap_flood_stays_bounded,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "discovery", e2e.set_up))
