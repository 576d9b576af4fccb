#!/usr/bin/env python3
"""End-to-end through a lossy network: a relay (lossy_relay.py: seeded
random and burst loss, in user space) passes audiocast-server's stream on
from one group to a second, where clients listen.

- Opus: one client listens on the first group too (the lossless decode); the
  two recordings are the same packets decoded but for what the relay
  dropped, and the lossy one is compared with the lossless one by SNR.
- PCM with SMPTE 2022-1 FEC (--fec): the relay drops media and repair
  packets alike; a client with --fec rebuilds what it can, bit-exact, and
  one without plays the media flow alone.

    tests/network/netns-run python3 tests/e2e/lossy.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import math
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hostile  # noqa: E402  (its raw-socket Forger)
from harness import Children, Failure, expect_exit  # noqa: E402

BIN = ""
TMP = ""
RATE = 48000
FRAME = 960  # 20 ms Opus frames
DIRECT = ("239.255.0.1", 5004)
RELAYED = ("239.255.0.2", 5006)


def tmp(name):
    return os.path.join(TMP, name)


def write_buzz(seconds):
    """A voice-like buzz (a pitch gliding 110-170 Hz, harmonics at 1/k up to
    4 kHz, four syllables a second), 16-bit stereo: libopus codes it in its
    speech modes, which carry in-band FEC."""
    data = bytearray()
    phase = 0.0
    for i in range(int(seconds * RATE)):
        t = i / RATE
        f0 = 140 + 30 * math.sin(2 * math.pi * 0.7 * t)
        phase += 2 * math.pi * f0 / RATE
        v = sum(math.sin(k * phase) / k for k in range(1, int(4000 / f0) + 1))
        x = round(32767 * 0.25 * (0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)) * v)
        data += struct.pack("<hh", x, x)
    harness.write_wav(tmp("buzz.wav"), harness.Sound(RATE, 2, 2, bytes(data)))


def client(children, name, where, *extra, latency_ms=100):
    group, port = where
    return children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                           "--group", group, "--port", str(port), "--codec", "opus",
                           "--channels", "2", "--no-playback", "--latency-ms", str(latency_ms),
                           "--max-rate-ppm", "0", "--output", tmp(f"{name}.wav"),
                           "--stats-json", tmp(f"{name}.json"), "--duration", "20", *extra], name)


def start_relay(children, seed, after, repairs=False):
    """The lossy relay from DIRECT to RELAYED at 5 % random loss, the first
    `after` packets spared; with `repairs`, the FEC repair flows too (port + 2
    and + 4, through the same losses). Its counts go to relay.json."""
    relay = children.start([sys.executable, os.path.join(os.path.dirname(__file__),
                                                         "lossy_relay.py"),
                            "--from", f"{DIRECT[0]}:{DIRECT[1]}",
                            "--to", f"{RELAYED[0]}:{RELAYED[1]}", "--loss", "0.05",
                            *(["--repair-ports", "2,4"] if repairs else []),
                            "--after", str(after), "--seed", str(seed),
                            "--counts", tmp("relay.json")], "relay")
    relay.wait_for_line(r"relaying", 10)
    return relay


def samples(sound):
    return struct.unpack(f"<{len(sound.data) // 2}h", sound.data)


def aligned_snr(got, reference, clean_frames):
    """SNR in dB of `got` against `reference` (16-bit stereo), aligned by
    where `got`'s first sound after `clean_frames` of it (before any loss)
    lies in `reference`, bit-exact: both decoded the same packets so far."""
    fb = got.frame_bytes
    begins = harness.leading_silence(got)
    probe_at = begins + clean_frames // 2
    probe = got.data[probe_at * fb:(probe_at + 480) * fb]
    found = reference.data.find(probe)
    if found < 0 or found % fb:
        raise Failure("the lossy recording's first second is not in the lossless one: they did "
                      "not decode the same packets")
    offset = found // fb - probe_at
    g, r = samples(got), samples(reference)
    first = probe_at
    last = min(got.frames, reference.frames - offset) - RATE // 2  # the end may trail off
    signal_power = noise = 0.0
    for i in range(2 * first, 2 * last):
        ref = r[i + 2 * offset]
        signal_power += ref * ref
        noise += (g[i] - ref) ** 2
    return 10 * math.log10(signal_power / max(noise, 1e-9)), last - first


# A run that fails where the sender did not run in time is tried again: the
# server says it fell behind and skipped ahead, or the lossless client ran
# dry (the sender or the whole machine stalled past the 100 ms latency). A
# skip next to the relay's drops, or a stall, leaves the clients re-anchored
# or jumped each at its own packet's arrival, and the recordings no longer
# line up: such a run says nothing of loss repair. (Seen with ctest running
# two jobs on a loaded 2-core machine; stopping the server for 120 ms, or
# for 60 ms at 1.8 s, gives the same with main's binaries as with these:
# one underrun, none late, nothing concealed.) Slips that change nothing
# pass as they are.
ATTEMPTS = 3


class SenderLate(Exception):
    pass


def through_loss(fec):
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return through_loss_once(fec)
        except SenderLate as e:
            print(f"attempt {attempt} of {ATTEMPTS} failed where the sender was late: {e}")
            why = e
    raise Failure(f"in {ATTEMPTS} runs the sender was late every time: {why}")


def through_loss_once(fec):
    """The SNR of the lossy client's recording against the lossless one's.
    A failure where the sender was late raises SenderLate instead."""
    write_buzz(6.0)
    counts = tmp("relay.json")
    with Children() as children:
        relay = start_relay(children, seed=3, after=50)
        lossless = client(children, "lossless", DIRECT)
        lossy = client(children, "lossy", RELAYED)
        for c in (lossless, lossy):
            c.wait_for_line(r"listening on", 10)
        server = children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                                 "--group", DIRECT[0], "--port", str(DIRECT[1]),
                                 "--codec", "opus", "--bitrate", "64000", "--application",
                                 "voip", "--expected-loss", "10", "--file", tmp("buzz.wav"),
                                 "--quiet"]
                                + ([] if fec else ["--no-fec"]), "server")
        expect_exit(server, 0, 20)
        for c in (lossless, lossy):
            c.wait_for_line(r"said BYE", 10)
            c.proc.send_signal(signal.SIGINT)
            expect_exit(c, 0, 10)
        relay.proc.send_signal(signal.SIGTERM)
        expect_exit(relay, 0, 10)
    for reader in server._readers:  # its last stderr lines, read after it exited
        reader.join(5)
    with open(tmp("server.log"), "w") as f:
        f.write("".join(line + "\n" for line in server.stderr_lines))
    clean = harness.read_json(tmp("lossless.json"))
    slipped = [line for line in server.stderr_lines if "fell behind" in line]
    try:
        return lossy_snr(clean, harness.read_json(tmp("lossy.json")),
                         harness.read_json(counts)["dropped"], fec)
    except Failure as e:
        if slipped:
            raise SenderLate(f"{e} (the server: {slipped[-1].split(': ', 2)[-1]})") from e
        if clean["underruns"]:
            raise SenderLate(f"{e} (the lossless client ran dry too: {clean['underruns']} "
                             f"underruns)") from e
        raise


def lossy_snr(clean, lost, dropped, fec):
    if clean["packets_lost"] or clean["frames_repaired"] or clean["concealed_frames"] \
            or clean["underruns"]:
        raise Failure(f"the lossless client lost audio: {clean}")
    if lost["packets_lost"] != dropped:
        raise Failure(f"the relay dropped {dropped} packets; the client counted "
                      f"{lost['packets_lost']} lost")
    snr, frames = aligned_snr(harness.read_wav(tmp("lossy.wav")),
                              harness.read_wav(tmp("lossless.wav")), RATE)
    what = "in-band FEC" if fec else "no FEC (the decoder's concealment)"
    print(f"Opus 64 kbit/s voip, {what}: the relay dropped {dropped} of "
          f"{lost['packets_expected']} packets ({100 * dropped / lost['packets_expected']:.1f} %, "
          f"5 % random loss); the client repaired {lost['frames_repaired']} frames, the "
          f"playout concealed {lost['concealed_frames']}; SNR against the lossless decode "
          f"{snr:.1f} dB over {frames / RATE:.1f} s")
    # Every lost frame rebuilt by the decoder: the playout conceals nothing.
    if lost["frames_repaired"] != dropped * FRAME or lost["concealed_frames"]:
        raise Failure(f"{dropped * FRAME} frames were lost, {lost['frames_repaired']} repaired "
                      f"by the decoder and {lost['concealed_frames']} concealed by the playout")
    if lost["underruns"] or lost["packets_late"]:
        raise Failure(f"the lossy client ran dry or took packets late: {lost}")
    return snr


def opus_through_loss_fec_beats_concealment():
    with_fec = through_loss(True)
    without = through_loss(False)
    print(f"in-band FEC {with_fec:.1f} dB, concealment alone {without:.1f} dB")
    if with_fec < 20:
        raise Failure(f"with in-band FEC the lossy decode is only {with_fec:.1f} dB above its "
                      "difference from the lossless one")
    if with_fec < without + 6:
        raise Failure(f"in-band FEC ({with_fec:.1f} dB) did not beat concealment alone "
                      f"({without:.1f} dB) by 6 dB")


def opus_through_parity_fec():
    """Opus (20 ms frames, in-band FEC off) with SMPTE 2022-1 FEC, 5 x 4 (45 %
    more packets, a repair delay of 45 packets), through the relay dropping
    5 % of media and repairs: the --fec client rebuilds the lost packets and
    plays without running dry. Opus decodes in order: the packets after a
    gap wait for it until playout reaches it, so a packet rebuilt a column
    later (up to 45 packets, 900 ms, within the 1 s latency) is decoded in
    its place, not counted late. (Before, a gap was taken for lost at the
    second packet after it: 8 of 16 rebuilt packets came too late.) Its
    recording is compared with the lossless one by SNR."""
    write_buzz(8.0)
    counts = tmp("relay.json")
    with Children() as children:
        relay = start_relay(children, seed=9, after=20, repairs=True)
        lossless = client(children, "lossless", DIRECT)
        # 45 packets of 20 ms may pass before a repair comes: 900 ms.
        lossy = client(children, "lossy", RELAYED, "--fec", "5x4", latency_ms=1000)
        for c in (lossless, lossy):
            c.wait_for_line(r"listening on", 10)
        server = children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                                 "--group", DIRECT[0], "--port", str(DIRECT[1]),
                                 "--codec", "opus", "--bitrate", "64000", "--application",
                                 "voip", "--no-fec", "--fec", "5x4", "--file", tmp("buzz.wav"),
                                 "--quiet"], "server")
        expect_exit(server, 0, 20)
        for c in (lossless, lossy):
            c.wait_for_line(r"said BYE", 10)
            c.proc.send_signal(signal.SIGINT)
            expect_exit(c, 0, 10)
        relay.proc.send_signal(signal.SIGTERM)
        expect_exit(relay, 0, 10)
    dropped = harness.read_json(counts)["dropped"]
    clean, lost = harness.read_json(tmp("lossless.json")), harness.read_json(tmp("lossy.json"))
    f = lost["fec"]
    if clean["packets_lost"] or clean["concealed_frames"]:
        raise Failure(f"the lossless client lost audio: {clean}")
    snr, frames = aligned_snr(harness.read_wav(tmp("lossy.wav")),
                              harness.read_wav(tmp("lossless.wav")), RATE)
    print(f"Opus 64 kbit/s with 5 x 4 parity FEC: the relay dropped {dropped} of "
          f"{lost['packets_expected']} packets; the client rebuilt {f['packets_recovered']} "
          f"and lost {lost['packets_lost']} ({lost['frames_repaired']} frames concealed by the "
          f"decoder); SNR against the lossless decode {snr:.1f} dB over {frames / RATE:.1f} s")
    if dropped < 10:
        raise Failure(f"the relay dropped {dropped}: too few for the test to mean anything")
    if f["packets_recovered"] + lost["packets_lost"] < dropped or lost["packets_lost"] > dropped // 3:
        raise Failure(f"FEC rebuilt {f['packets_recovered']} of {dropped} dropped packets and "
                      f"{lost['packets_lost']} stayed lost: {lost}")
    if lost["underruns"] or lost["packets_rebuilt"] != f["packets_recovered"]:
        raise Failure(f"the --fec client ran dry or miscounted: {lost}")
    print(f"{f['packets_recovered'] - lost['packets_late']} rebuilt packets decoded in order, "
          f"{lost['packets_late']} rebuilt after the decoder had concealed their frames")
    if lost["packets_late"]:
        raise Failure(f"{lost['packets_late']} packets came after the decoder had passed them, "
                      f"with a latency that covers the column repairs' delay: {lost}")
    if f["packets_recovered"] < dropped // 2 or snr < 15:
        raise Failure(f"with parity FEC the lossy decode is {snr:.1f} dB above its difference "
                      f"from the lossless one, and only {f['packets_recovered']} of {dropped} "
                      f"were rebuilt")


PACKET = 48  # 1 ms L16 packets
FADE = 96  # the playout's 2 ms fades


STRANGER = "127.0.0.2"  # another host: lo answers for all of 127/8


class FecForger(threading.Thread):
    """Another host on the group the clients listen on. From before the
    server starts it floods the media and repair ports (junk, and RTP and
    repair headers with random SSRCs and numbers). Once it has heard the
    stream it forges, for each real repair it hears, repairs for the rows and
    the matrix still in progress (the real one's headers with junk where the
    XOR belongs), so they arrive ahead of the real ones, and it sends the
    stream's next packets with junk payloads from its own address. Every
    twentieth packet it hears it sends again, its payload junk, from the
    sender's own address and port (a raw socket, as any host on a LAN can)."""

    def __init__(self, group, port):
        super().__init__(daemon=True)
        self.group, self.port = group, port
        self.stop = threading.Event()
        self.rng = random.Random(0xFEC)
        self.flooded = self.forged_repairs = self.forged_media = self.spoofed = 0
        self.heard = 0

    def listening(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.group, port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(self.group) + socket.inet_aton("127.0.0.1"))
        s.setblocking(False)
        return s

    def run(self):
        spoofer = hostile.Forger()
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.bind((STRANGER, 0))
        out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        media, columns, rows = (self.listening(self.port + k) for k in (0, 2, 4))
        junk = bytes(self.rng.getrandbits(8) for _ in range(1500))
        heard = None  # (ssrc, newest sequence, newest timestamp)
        while not self.stop.is_set():
            readable, _, _ = select.select([media, columns, rows], [], [], 0.001)
            for sock in readable:
                try:
                    data, (addr, port) = sock.recvfrom(4096)
                except BlockingIOError:
                    continue
                if addr == STRANGER or len(data) < 28:
                    continue
                if sock is media:
                    _, pt, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
                    heard = (ssrc, seq, ts)
                    self.heard += 1
                    if self.heard % 20 == 0:
                        spoofer.send(addr, port, self.group, self.port,
                                     data[:12] + junk[:len(data) - 12])
                        self.spoofed += 1
                    fake = struct.pack("!BBHII", 0x80, pt, (seq + 1) & 0xFFFF,
                                       (ts + PACKET) & 0xFFFFFFFF, ssrc) + junk[:len(data) - 12]
                    out.sendto(fake, (self.group, self.port))
                    self.forged_media += 1
                    continue
                (base,) = struct.unpack("!H", data[12:14])
                ahead = (10, 20) if sock is rows else (100,)
                for step in ahead:
                    forged = (data[:12] + struct.pack("!H", (base + step) & 0xFFFF) + data[14:28]
                              + junk[:len(data) - 28])
                    out.sendto(forged, (self.group, self.port + (4 if sock is rows else 2)))
                    self.forged_repairs += 1
            if heard is None:  # the flood before the stream: about 3,000 datagrams/s
                for k in (0, 2, 4):
                    d = struct.pack("!BBHII", 0x80, 96, self.rng.getrandbits(16),
                                    self.rng.getrandbits(32), self.rng.getrandbits(32))
                    if k:
                        d += struct.pack("!HHBBHIBBBB", self.rng.getrandbits(16), 200, 0x80, 0,
                                         0, 0, 0x40 if k == 4 else 0, 1 if k == 4 else 10, 10, 0)
                    out.sendto(d + junk[:200], (self.group, self.port + k))
                    self.flooded += 1


def fec_through_the_relay(forger=False):
    """audiocast-server --fec 10x10 through the relay (5 % of media and repair
    packets dropped) to a client with --fec and one without; with `forger`,
    a FecForger on the clients' group. Returns what the --fec client's
    figures say, after checking its recording."""
    source = harness.noise(RATE, 2, 2, 8.0, seed=31)
    harness.write_wav(tmp("source.wav"), source)
    counts = tmp("relay.json")
    fec_port = RELAYED[1]
    stranger = FecForger(RELAYED[0], fec_port) if forger else None
    with Children() as children:
        relay = start_relay(children, seed=5, after=20, repairs=True)
        listeners = {}
        for name, extra in (("with_fec", ["--fec", "10x10"]), ("without_fec", [])):
            listeners[name] = children.start(
                [os.path.join(BIN, "audiocast-client"), "--interface", "lo", "--group",
                 RELAYED[0], "--port", str(fec_port), "--no-playback", "--latency-ms", "300",
                 "--max-rate-ppm", "0", "--output", tmp(f"{name}.wav"), "--stats-json",
                 tmp(f"{name}.json"), "--duration", "30", *extra], name)
        for c in listeners.values():
            c.wait_for_line(r"listening on", 10)
        if stranger:
            stranger.start()
            time.sleep(0.5)
        server = children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                                 "--group", DIRECT[0], "--port", str(DIRECT[1]), "--ptime-ms",
                                 "1", "--fec", "10x10", "--file", tmp("source.wav")], "server")
        server.wait_for_line(r"FEC: SMPTE 2022-1, 10 x 10, 20 % more packets", 10)
        expect_exit(server, 0, 30)
        if stranger:
            stranger.stop.set()
            stranger.join(2)
        for c in listeners.values():
            c.wait_for_line(r"said BYE", 10)
            c.proc.send_signal(signal.SIGINT)
            expect_exit(c, 0, 10)
        relay.proc.send_signal(signal.SIGTERM)
        expect_exit(relay, 0, 10)
    relayed = harness.read_json(counts)
    dropped = relayed["dropped"]
    slipped = harness.server_slipped_frames(server)
    fec, plain = harness.read_json(tmp("with_fec.json")), harness.read_json(tmp("without_fec.json"))
    f = fec["fec"]
    said = (f"the relay dropped {dropped} of {dropped + relayed['forwarded']} media packets and "
            f"{relayed['repairs_dropped']} of {relayed['repairs_dropped'] + relayed['repairs_forwarded']}"
            f" repair packets; the --fec client rebuilt {f['packets_recovered']} from "
            f"{f['repairs_received']} repairs and lost {fec['packets_lost']}")
    print(said)
    if dropped < 200:
        raise Failure(f"{said}: the relay dropped too few for the test to mean anything")
    figures = {k: fec[k] for k in ("packets_received", "packets_foreign", "socket_overflow",
                                   "frames_discarded", "source_changes", "underruns")}
    # The recording first: a forged repair used would show here.
    got = harness.read_wav(tmp("with_fec.wav"))
    lead = harness.leading_silence(got)
    # A client that lost the stream's first packets (its socket overflowed
    # under the flood, or it was descheduled and skipped what fell due)
    # starts later in the source, and cannot know what it missed there.
    start = harness.start_in_source(got, lead, source)
    if start is None:
        raise Failure(f"{said}: the --fec client's recording starts with audio the source does not "
                      f"hold, after {lead} frames of silence: {figures}")
    if start:
        print(f"the --fec client's recording starts at the source's frame {start}: {figures}")
        if not ((fec["socket_overflow"] and start % PACKET == 0)
                or fec["frames_discarded"] >= start):
            raise Failure(f"{said}: the --fec client's recording starts at the source's frame "
                          f"{start}, and nothing it counted says why: {figures}")
    body = harness.Sound(got.rate, got.channels, got.width,
                         got.data[lead * got.frame_bytes:
                                  (lead + source.frames - start + slipped) * got.frame_bytes])
    rest = harness.Sound(source.rate, source.channels, source.width,
                         source.data[start * source.frame_bytes:])
    try:
        harness.expect_same_audio_across_slips(body, rest, "the --fec client's recording",
                                               slipped, fec["packets_lost"], PACKET, FADE)
    except Failure as f:
        raise Failure(f"{f}; the client's figures: {figures}") from None
    # A packet overtaken by a later one may be rebuilt before it arrives: the
    # session then counts the arrival a duplicate (none on lo, as a rule).
    # The forger's copies from the sender's address count as malformed (junk
    # where the header extension belongs) or as duplicates, so with it the
    # sum is bounded rather than exact. Without the forger it is exact. The
    # CI runs of 66afa45 and e9e545b counted one more than was dropped, with
    # one packet discarded: by the figures, the packet after a schedule slip
    # of the server (a timestamp jump, held until the next packet confirms
    # it) whose next packet the relay dropped, so that no packet confirmed
    # it and the session dropped it (source_timeline.hpp now lets a later
    # packet confirm it across the gap; the unit test "a sender that slipped
    # its schedule..." failed before that).
    accounted = f["packets_recovered"] + fec["packets_lost"]
    if fec["socket_overflow"] == 0 and (
            accounted != dropped + fec["packets_duplicate"] if not stranger
            else not dropped <= accounted <= dropped + fec["packets_duplicate"]
            + fec["packets_discarded"]):
        raise Failure(f"{said}: rebuilt and lost do not add up to what was dropped: {fec}")
    # A packet sent twice with different bytes is trusted for no repair until
    # a repair settles it, so the forger's copies (one packet in 20) cost
    # rebuilds: 56-61 of 429 lost where 11 are without it.
    if fec["packets_lost"] > dropped // (4 if stranger else 10):
        raise Failure(f"{said}: FEC left more than a {'quarter' if stranger else 'tenth'} of "
                      "the loss")
    if fec["packets_late"] or fec["underruns"] or fec["source_changes"] != 1:
        raise Failure(f"{said}: the --fec client took rebuilt packets late or restarted: {fec}")
    # Rebuilt packets come up to 210 ms late but are not timed: the latency
    # is the network's (it was 104 ms at p99 when they were).
    if fec["packets_rebuilt"] != f["packets_recovered"] or fec["latency_ms"]["p99"] > 20:
        raise Failure(f"{said}: rebuilt packets were counted or timed as received: {fec}")
    # (With the forger, the client without --fec has counted up to 2 more:
    # noticed, not yet explained; its recording is not what this tests.)
    if not dropped <= plain["packets_lost"] <= dropped + (5 if stranger else 0):
        raise Failure(f"{said}; the client without --fec counted {plain['packets_lost']} lost, "
                      f"the relay dropped {dropped}")
    print(f"without --fec: {plain['packets_lost']} lost and {plain['concealed_frames']} frames "
          f"concealed; with it the recording is the source but for {fec['packets_lost']} packets; "
          f"latency p99 {fec['latency_ms']['p99']:.3f} ms with --fec (rebuilt packets not timed), "
          f"{plain['latency_ms']['p99']:.3f} ms without")
    if stranger:
        print(f"the forger flooded {stranger.flooded} datagrams before the stream, then forged "
              f"{stranger.forged_repairs} repairs and {stranger.forged_media} packets; the --fec "
              f"client dropped {f['repairs_foreign']} repairs as not from the source's host and "
              f"ignored {f['media_ignored']} packets of other sources")
        # What the socket dropped under the flood is counted in socket_overflow.
        arrived = stranger.forged_repairs - fec["socket_overflow"]
        if f["repairs_foreign"] < arrived * 0.95 or f["repairs_foreign"] > stranger.forged_repairs + stranger.flooded:
            raise Failure(f"{stranger.forged_repairs} repairs forged; the client counted "
                          f"{f['repairs_foreign']} as not from the source's host: {f}")
        if f["media_ignored"] < (stranger.forged_media - fec["socket_overflow"]) * 0.95:
            raise Failure(f"{stranger.forged_media} packets forged; the FEC decoder ignored "
                          f"{f['media_ignored']}: {f}")
        # Each copy from the sender's address conflicts with the packet kept.
        if f["media_conflicting"] < (stranger.spoofed - fec["socket_overflow"]) * 0.95:
            raise Failure(f"{stranger.spoofed} packets sent again from the sender's address; "
                          f"the FEC decoder saw {f['media_conflicting']} conflict: {f}")
        print(f"{stranger.spoofed} packets sent again from the sender's address with junk "
              f"payloads: {f['media_conflicting']} conflicts, none used for a rebuild")
    return fec


def pcm_parity_fec_rebuilds_what_the_relay_drops():
    """5 % of media and repair packets dropped, 10 x 10 FEC (20 %): the client
    with --fec records the source bit-exact but for the packets FEC could not
    rebuild, and those are what its figures call lost; the client without
    plays every packet the relay let through and conceals the rest."""
    fec_through_the_relay()


def pcm_parity_fec_ignores_a_forger():
    """The same, with a host on the clients' group that floods every flow
    before the server starts, then forges repairs with the stream's SSRC for
    the rows and matrix in progress (junk XORs, ahead of the real ones) and
    the stream's next packets from its own address. The --fec client's
    recording is still the source bit-exact but for what FEC could not
    rebuild: nothing forged was used (before the fix, a forged repair that
    found one packet missing rebuilt it from junk), and every forged repair
    is counted as not from the source's host."""
    fec_through_the_relay(forger=True)


CASES = {"opus_through_loss_fec_beats_concealment": opus_through_loss_fec_beats_concealment,
         "pcm_parity_fec_rebuilds_what_the_relay_drops":
             pcm_parity_fec_rebuilds_what_the_relay_drops,
         "pcm_parity_fec_ignores_a_forger": pcm_parity_fec_ignores_a_forger,
         "opus_through_parity_fec": opus_through_parity_fec}


def set_up(bin_dir, tmp_dir):
    global BIN, TMP
    BIN, TMP = bin_dir, tmp_dir


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "e2e", set_up))
