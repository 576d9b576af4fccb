#!/usr/bin/env python3
"""End-to-end through a lossy network: audiocast-server streams Opus to a
group; one audiocast-client listens there (the lossless decode), and a
relay (lossy_relay.py: seeded random and burst loss, in user space) passes
the stream on to a second group, where another client listens. The two
recordings are the same packets decoded, but for what the relay dropped:
the lossy one is compared with the lossless one by SNR.

    tests/network/netns-run python3 tests/e2e/lossy.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import math
import os
import signal
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
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


def client(children, name, where):
    group, port = where
    return children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                           "--group", group, "--port", str(port), "--codec", "opus",
                           "--channels", "2", "--no-playback", "--latency-ms", "100",
                           "--max-rate-ppm", "0", "--output", tmp(f"{name}.wav"),
                           "--stats-json", tmp(f"{name}.json"), "--duration", "20"], name)


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


def through_loss(fec):
    write_buzz(6.0)
    counts = tmp("relay.json")
    with Children() as children:
        relay = children.start([sys.executable, os.path.join(os.path.dirname(__file__),
                                                             "lossy_relay.py"),
                                "--from", f"{DIRECT[0]}:{DIRECT[1]}",
                                "--to", f"{RELAYED[0]}:{RELAYED[1]}",
                                "--loss", "0.05",
                                "--after", "50", "--seed", "3", "--counts", counts], "relay")
        relay.wait_for_line(r"relaying", 10)
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
    dropped = harness.read_json(counts)["dropped"]
    clean, lost = harness.read_json(tmp("lossless.json")), harness.read_json(tmp("lossy.json"))
    if clean["packets_lost"] or clean["frames_repaired"] or clean["concealed_frames"]:
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


CASES = {"opus_through_loss_fec_beats_concealment": opus_through_loss_fec_beats_concealment}


def set_up(bin_dir, tmp_dir):
    global BIN, TMP
    BIN, TMP = bin_dir, tmp_dir


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "e2e", set_up))
