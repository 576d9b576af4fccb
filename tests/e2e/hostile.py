#!/usr/bin/env python3
"""End-to-end tests of audiocast-client against a hostile host on the group:
real processes, real multicast on lo inside a private network namespace, and
an attacker that floods the group before and while the real server streams
and forges packets from the server's own address and port (a raw socket, as
any host on a LAN can), with the next sequence number, far sequence numbers,
timestamps 2^31 ahead, and RTCP BYEs in the server's name.

    tests/network/netns-run python3 tests/e2e/hostile.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

GROUP = "239.255.0.1"
PORT = 5004
STRANGER = "127.0.0.2"  # another host: lo answers for all of 127/8
PACKET_FRAMES = 240  # the server's default 5 ms at 48 kHz
FADE_FRAMES = 96  # receiver_config::fade, 2 ms at 48 kHz


def checksum16(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Forger:
    """Sends UDP datagrams with any source address and port (IP_HDRINCL)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, src, sport, dst, dport, payload):
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 1, 17, 0,
                             socket.inet_aton(src), socket.inet_aton(dst))
        header = header[:10] + struct.pack("!H", checksum16(header)) + header[12:]
        self.sock.sendto(header + udp, (dst, 0))


def rtp(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + payload


def rtcp_bye(ssrc):
    rr = struct.pack("!BBHI", 0x80, 201, 1, 0x5EE)  # an empty RR from some SSRC
    bye = struct.pack("!BBHI", 0x81, 203, 1, ssrc)
    return rr + bye


def sender_report(ssrc, ntp, rtp_timestamp):
    return struct.pack("!BBHIQIII", 0x80, 200, 6, ssrc, ntp, rtp_timestamp, 1, 1)


class Flood(threading.Thread):
    """From another host: half random bytes, half valid-looking RTP with
    random SSRCs and sequence numbers, `rate` datagrams a second, and junk on
    the RTCP port, until stopped. Given a Listener that has heard the real
    sender (`impersonate`), every fourth datagram is instead RTP with the
    sender's SSRC, payload type and next sequence number and timestamp, and
    every other RTCP datagram a sender report in its name with a wild clock."""

    def __init__(self, rate, impersonate=None):
        super().__init__(daemon=True)
        self.rate = rate
        self.impersonate = impersonate
        self.sent = 0
        self.sent_control = 0
        self.stop = threading.Event()
        self.rng = random.Random(0xF100D)

    def run(self):
        media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        media.bind((STRANGER, 0))
        media.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        control.bind((STRANGER, 0))
        control.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                           socket.inet_aton("127.0.0.1"))
        junk = bytes(self.rng.getrandbits(8) for _ in range(960))
        per_ms = self.rate / 1000
        start = self.started = time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * 1000 * per_ms)
            while self.sent < due:
                real = self.impersonate.sender if self.impersonate else None
                if real and self.sent % 4 == 1:
                    seq, ts = self.impersonate.now()
                    d = rtp(real[3], seq + 1, ts + 240, real[2], junk)
                elif self.sent % 2:
                    d = rtp(96, self.rng.getrandbits(16), self.rng.getrandbits(32),
                            self.rng.getrandbits(32), junk)
                else:
                    d = junk[:self.rng.randrange(0, 960)]
                media.sendto(d, (GROUP, PORT))
                self.sent += 1
                if self.sent % 20 == 0:
                    if real and self.sent % 40 == 0:
                        c = sender_report(real[2], self.rng.getrandbits(64),
                                          self.rng.getrandbits(32))
                    else:
                        c = junk[:self.rng.randrange(0, 200)]
                    control.sendto(c, (GROUP, PORT + 1))
                    self.sent_control += 1
            time.sleep(0.0005)
        self.seconds = time.monotonic() - start

    def achieved(self):
        """Datagrams a second over the whole run (a core too busy to keep
        up sends fewer: the test asserts the rate it claims)."""
        return self.sent / self.seconds


class Listener(threading.Thread):
    """Joins the group as any host can and notes the real sender's address,
    port, SSRC and newest sequence number and timestamp."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((GROUP, PORT))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton(GROUP) + socket.inet_aton("127.0.0.1"))
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.sender = None  # (address, port, ssrc, payload type)
        self.newest = None  # (sequence, timestamp)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                data, (addr, port) = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if addr == STRANGER or len(data) < 12:
                continue
            _, pt, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
            with self.lock:
                self.sender = (addr, port, ssrc, pt & 0x7F)
                self.newest = (seq, ts)

    def wait_for_sender(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.sender:
                    return self.sender
            time.sleep(0.01)
        raise Failure("the attacker never heard the server")

    def now(self):
        with self.lock:
            return self.newest


def expect_source_played(got, source, stats, flood, then_silence, server):
    """The recording holds the source after leading silence, bit-exact (and,
    if `then_silence`, silence after it). The flood may cost the client
    packets only where this host dropped datagrams before the client could
    judge them: the kernel, for a full socket buffer (socket_overflow; a host
    too busy to read 20,000 datagrams/s in time, which CI machines are at
    times). The hand-off to the audio thread keeps its second half for the
    source (packets_overrun counts what found it full). Each lost packet then
    costs at most its own frames and the fades around its concealment, and
    nothing else moves. A server too starved to send in time skips ahead and
    says so (server_slipped_frames): that gap is allowed, and no more.
    Returns what to print about it, and the frame where the source ends in
    the recording."""
    lead = harness.leading_silence(got)
    fb = got.frame_bytes
    slipped = harness.server_slipped_frames(server)
    body = harness.Sound(got.rate, got.channels, got.width,
                         got.data[lead * fb:(lead + source.frames + slipped) * fb])
    lost = stats["packets_lost"]
    dropped = stats["socket_overflow"] + stats["packets_overrun"]
    try:
        if lost > dropped:
            raise Failure(f"{lost} packets of the real sender were lost, and this host dropped "
                          f"only {dropped} datagrams before the client saw them: the flood "
                          f"took them")
        gaps = harness.expect_same_audio_across_slips(body, source, "the client's recording",
                                                      slipped, lost, PACKET_FRAMES, FADE_FRAMES)
    except Failure as f:
        raise Failure(f"{f}; the client's figures: {stats}; the flood sent {flood.sent}") from None
    gap_frames = sum(n for _, n in gaps)
    end = lead + source.frames + gap_frames
    after = got.data[end * fb:]
    if then_silence and after != bytes(len(after)):
        raise Failure(f"the client's recording goes on after the source with audio: {stats}")
    if stats["concealed_frames"] > lost * PACKET_FRAMES + gap_frames:
        raise Failure(f"concealed_frames is {stats['concealed_frames']} for {lost} lost "
                      f"packets of {PACKET_FRAMES} frames and {gap_frames} frames the server "
                      f"skipped: {stats}")
    said = "recording bit-exact"
    if lost:
        said += (f" but for {lost} packets, which this host dropped with {dropped} datagrams of "
                 f"the flood (socket_overflow {stats['socket_overflow']}, packets_overrun "
                 f"{stats['packets_overrun']})")
    if gaps:
        said += f"; the server's schedule slipped (gaps {gaps}, as it warned)"
    return said, end


def hostile_sender_on_the_group():
    """The issue's attack, end to end: a host floods the group from half a
    second before the server starts, then forges packets from the server's own
    address and port and says BYE in its name. The client's recording is the
    source bit-exact, and every datagram it dropped is counted."""
    source = harness.noise(48000, 2, 2, 4.0, seed=14)
    harness.write_wav(e2e.tmp("source.wav"), source)
    flood = Flood(rate=20000)
    listener = Listener()
    forger = Forger()
    forged_media = 0
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=8.0, latency_ms=200)[0]
        listener.start()
        flood.start()
        time.sleep(0.5)
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
        addr, port, ssrc, pt = listener.wait_for_sender(5)
        time.sleep(0.5)
        junk = bytes(960)
        # The next sequence number, a timestamp 2^31 ahead: three times.
        for _ in range(3):
            seq, ts = listener.now()
            forger.send(addr, port, GROUP, PORT, rtp(pt, seq + 1, ts + 240 + (1 << 31), ssrc, junk))
            forged_media += 1
            time.sleep(0.3)
        # Six lone packets 500 ahead, with a timestamp to match.
        for _ in range(6):
            seq, ts = listener.now()
            forger.send(addr, port, GROUP, PORT, rtp(pt, seq + 500, ts + 500 * 240, ssrc, junk))
            forged_media += 1
            time.sleep(0.1)
        # BYE in the server's name: from another host (ignored), then from
        # the server's own host (believed, and taken back by its next packets).
        forger.send(STRANGER, 40001, GROUP, PORT + 1, rtcp_bye(ssrc))
        time.sleep(0.2)
        forger.send(addr, port + 1, GROUP, PORT + 1, rtcp_bye(ssrc))
        expect_exit(server, 0, 15)
        expect_exit(client, 0, 15)
        flood.stop.set()
        listener.stop.set()
    flood.join(2)
    listener.join(2)

    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    played, _ = expect_source_played(got, source, stats, flood, then_silence=True, server=server)
    for field, want in (("packets_late", 0), ("source_changes", 1), ("resyncs", 0),
                        ("frames_discarded", 0)):
        if stats.get(field) != want:
            raise Failure(f"{field} is {stats.get(field)}, expected {want}: {stats}")
    # A forged "next" packet that reaches the client after the real packet
    # of that number (the attacker's listener ran late) is a duplicate.
    # This host may have dropped some of them with the flood.
    forged_seen = stats["packets_discarded"] + stats["packets_duplicate"]
    dropped = stats["socket_overflow"] + stats["packets_overrun"]
    if not forged_media - dropped <= forged_seen <= forged_media:
        raise Failure(f"packets_discarded + packets_duplicate is {forged_seen}, expected the "
                      f"{forged_media} forged packets: {stats}")
    if not stats["stream_ended_by_bye"]:
        raise Failure(f"the server's own BYE at the end was not seen: {stats}")
    counted = stats["packets_foreign"] + stats["packets_malformed"]
    # What the kernel dropped from a full socket buffer never reached the
    # client (socket_overflow counts it); everything else the flood sent is
    # counted, once.
    if counted > flood.sent or counted < flood.sent * 0.95:
        raise Failure(f"the flood sent {flood.sent} datagrams; the client counted {counted} "
                      f"(foreign {stats['packets_foreign']}, malformed "
                      f"{stats['packets_malformed']}, overrun {stats['packets_overrun']})")
    if flood.achieved() < 0.95 * flood.rate:
        raise Failure(f"the flood reached only {flood.achieved():.0f} datagrams/s of "
                      f"{flood.rate}: the machine is too busy for this test's claim")
    print(f"{played}; flood {flood.sent} datagrams at {flood.achieved():.0f}/s "
          f"({flood.sent_control} on RTCP), "
          f"counted {counted}; {forged_media} forged packets discarded; "
          f"{stats['packets_received']} packets of the server played")


def hostile_sender_after_the_real_one():
    """A host that has listened to a running stream floods the group at
    20,000 datagrams/s: junk, random SSRCs, and (a quarter of it) RTP with
    the real SSRC and the next sequence number and timestamp, with sender
    reports in the real sender's name on the RTCP port. The validated source
    keeps the stream: the recording is the source bit-exact, the latency
    figures are the real ones, and every datagram of the flood is counted.
    After the real sender's BYE the forger, which has passed probation with
    its "next" packets, takes over as any new sender would (only SRTP tells
    them apart): once the source has played out in full, it costs at most one
    packet's frames, since its later packets repeat one sequence number."""
    source = harness.noise(48000, 2, 2, 4.0, seed=16)
    harness.write_wav(e2e.tmp("source.wav"), source)
    listener = Listener()
    flood = Flood(rate=20000, impersonate=listener)
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=8.0, latency_ms=200)[0]
        listener.start()
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
        listener.wait_for_sender(5)
        time.sleep(0.5)
        flood.start()
        expect_exit(server, 0, 15)
        expect_exit(client, 0, 15)
        flood.stop.set()
        listener.stop.set()
    flood.join(2)
    listener.join(2)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    played, end_frame = expect_source_played(got, source, stats, flood, then_silence=False,
                                             server=server)
    end = end_frame * got.frame_bytes
    after = [got.data[i:i + 4] for i in range(end, len(got.data), 4)]
    forged_frames = sum(1 for frame in after if frame != bytes(4))
    if forged_frames > 240 * (stats["source_changes"] - 1):
        raise Failure(f"{forged_frames} frames of audio after the source, from "
                      f"{stats['source_changes'] - 1} sources after the real one: {stats}")
    for field, want in (("packets_late", 0), ("resyncs", 0), ("frames_discarded", 0)):
        if stats.get(field) != want:
            raise Failure(f"{field} is {stats.get(field)}, expected {want}: {stats}")
    if not stats["latency_ms"] or stats["latency_ms"]["p99"] > 200:
        raise Failure(f"the latency figures are not the real sender's: {stats['latency_ms']}")
    counted = (stats["packets_foreign"] + stats["packets_malformed"] +
               stats["packets_discarded"] + stats["packets_duplicate"])
    if counted > flood.sent or counted < flood.sent * 0.95:
        raise Failure(f"the flood sent {flood.sent} datagrams; the client counted {counted}: "
                      f"{stats}")
    if flood.achieved() < 0.95 * flood.rate:
        raise Failure(f"the flood reached only {flood.achieved():.0f} datagrams/s of "
                      f"{flood.rate}: the machine is too busy for this test's claim")
    print(f"{played}; flood {flood.sent} datagrams at {flood.achieved():.0f}/s, a "
          f"quarter in the sender's name, counted {counted} (foreign "
          f"{stats['packets_foreign']}, malformed {stats['packets_malformed']}, discarded "
          f"{stats['packets_discarded']}, duplicate {stats['packets_duplicate']}); latency p99 "
          f"{stats['latency_ms']['p99']} ms; after the real sender's BYE the forger played "
          f"{forged_frames} frames")


def source_specific_listener_never_sees_the_stranger():
    """The server sends from 127.0.0.1 and names it in its SDP
    (a=source-filter); a client that joins for that source alone (--source)
    never receives the flood from 127.0.0.2: the kernel drops it before the
    socket, so the client has nothing to count, and the recording is exact."""
    source = harness.noise(48000, 2, 2, 3.0, seed=15)
    harness.write_wav(e2e.tmp("source.wav"), source)
    flood = Flood(rate=20000)
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=6.0, latency_ms=200,
                                   extra=("--source", "127.0.0.1"))[0]
        flood.start()
        time.sleep(0.5)
        server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav"), "--source",
                                               "127.0.0.1", "--sdp", e2e.tmp("stream.sdp")),
                                "server")
        expect_exit(server, 0, 15)
        expect_exit(client, 0, 15)
        flood.stop.set()
    flood.join(2)
    with open(e2e.tmp("stream.sdp"), encoding="utf-8") as f:
        sdp = f.read()
    if "a=source-filter: incl IN IP4 239.255.0.1 127.0.0.1" not in sdp:
        raise Failure(f"the server's SDP does not name its source:\n{sdp}")
    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    try:
        harness.expect_starts_after_silence(got, source, "the client's recording",
                                            slipped_frames=harness.server_slipped_frames(server))
    except Failure as f:
        raise Failure(f"{f}; the client's figures: {stats}") from None
    for field in ("packets_foreign", "packets_malformed", "packets_lost"):
        if stats[field] != 0:
            raise Failure(f"{field} is {stats[field]} while the kernel filters by source "
                          f"(the flood sent {flood.sent}): {stats}")
    print(f"recording bit-exact; the flood sent {flood.sent} datagrams at "
          f"{flood.achieved():.0f}/s, the client saw none")


CASES = {
    "hostile_sender_on_the_group": hostile_sender_on_the_group,
    "hostile_sender_after_the_real_one": hostile_sender_after_the_real_one,
    "source_specific_listener_never_sees_the_stranger": source_specific_listener_never_sees_the_stranger,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "hostile", e2e.set_up))
