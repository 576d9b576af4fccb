#!/usr/bin/env python3
"""Opus (RFC 7587) between audiocast and real third-party tools, both ways:
audiocast-server --codec opus to ffmpeg and GStreamer (opusdec) through its
SDP, and ffmpeg's libopus and GStreamer's opusenc to audiocast-client.

Opus is lossy, so nothing is bit-exact: the source is two tones, 440 Hz on
the left and 554 Hz on the right at 0.4 of full scale, and each side must
hear its tone at that level (within 25 %), holding at least 99 % of the
channel's power (20 dB above whatever else), with the other side's tone
20 dB down. A lost or concealed packet shows as noise in that window.

    tests/network/netns-run python3 tests/interop/interop_opus.py --bin-dir DIR CASE

Each case runs inside a private network namespace (multicast on lo only).
Exit 0 passed, 1 failed, 77 skipped with the reason.
"""

import math
import os
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import interop  # noqa: E402  (its tool checks and temporary files)
from harness import Children, Failure, expect_exit  # noqa: E402
from interop import need, tmp, wait_until_bound  # noqa: E402

BIN = ""
GROUP, PORT = interop.GROUP, interop.PORT
RATE = 48000
LEFT_HZ, RIGHT_HZ, LEVEL = 440, 554, 0.4
WINDOW_S = 1.5  # whole periods of both tones
# Under a sanitizer the client runs two to three times slower on two cores:
# a late pull moves playout, and one jump in the window is a phase jump that
# the tone judgement reads as noise (the ASan run of 8f7b7d1: 0.653 of the
# level, no packet lost). The packet counts are still asserted there.
SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def write_tones(seconds=3.0):
    frames = int(RATE * seconds)
    data = bytearray()
    for i in range(frames):
        t = i / RATE
        left = round(LEVEL * 32767 * math.sin(2 * math.pi * LEFT_HZ * t))
        right = round(LEVEL * 32767 * math.sin(2 * math.pi * RIGHT_HZ * t))
        data += struct.pack("<hh", left, right)
    harness.write_wav(tmp("tones.wav"), harness.Sound(RATE, 2, 2, bytes(data)))


def amplitude_at(xs, hz):
    """The amplitude of the sine at `hz` in `xs` (Goertzel)."""
    w = 2 * math.pi * hz / RATE
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in xs:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / len(xs)


def expect_tones(sound, what):
    """Each side of `sound` (16-bit stereo) holds its tone, as the module
    says, over WINDOW_S from half a second after the sound begins."""
    if sound.rate != RATE or sound.channels != 2 or sound.width != 2:
        raise Failure(f"{what} is {sound.rate} Hz, {sound.channels} channels, "
                      f"{sound.width * 8} bits; expected {RATE} Hz 16-bit stereo")
    values = struct.unpack(f"<{len(sound.data) // 2}h", sound.data)
    begins = next((i // 2 for i, v in enumerate(values) if abs(v) > 1000), None)
    if begins is None:
        raise Failure(f"{what} is silent ({sound.frames} frames)")
    first = begins + RATE // 2
    count = int(WINDOW_S * RATE)
    if first + count > sound.frames:
        raise Failure(f"{what} has {sound.frames - begins} frames of sound, fewer than "
                      f"{RATE // 2 + count} to judge by")
    full = LEVEL * 32767
    for side, (hz, other) in enumerate(((LEFT_HZ, RIGHT_HZ), (RIGHT_HZ, LEFT_HZ))):
        xs = values[2 * first + side:2 * (first + count):2]
        tone = amplitude_at(xs, hz)
        crosstalk = amplitude_at(xs, other)
        power = sum(x * x for x in xs) / len(xs)
        rest_db = 10 * math.log10(max(power - tone * tone / 2, 1e-9) / (tone * tone / 2 + 1e-9))
        name = ("left", "right")[side]
        print(f"{what}, {name}: {hz} Hz at {tone / full:.3f} of the source's level; "
              f"everything else {rest_db:.1f} dB below it; the {other} Hz tone "
              f"{20 * math.log10(max(crosstalk, 1e-9) / tone):.1f} dB")
        if abs(tone / full - 1) > 0.25:
            raise Failure(f"{what}: the {name} {hz} Hz tone is at {tone / full:.3f} of its level")
        if rest_db > -20:
            raise Failure(f"{what}: on the {name}, what is not the {hz} Hz tone is only "
                          f"{-rest_db:.1f} dB below it (loss, concealment or the wrong channel)")
        if crosstalk > tone / 10:
            raise Failure(f"{what}: the {other} Hz tone is on the {name} too")


def read_raw(path):
    with open(path, "rb") as f:
        return harness.Sound(RATE, 2, 2, f.read())


def server(children, *args):
    return children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                           "--group", GROUP, "--port", str(PORT), "--codec", "opus",
                           "--bitrate", "96000", *args], "server")


def client(children, *args):
    return children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                           "--no-playback", "--latency-ms", "100", "--max-rate-ppm", "0",
                           "--output", tmp("client.wav"), "--stats-json", tmp("client.json"),
                           *args], "client")


def check_client(what):
    stats = harness.read_json(tmp("client.json"))
    print(f"{what}: received {stats['packets_received']} packets, lost "
          f"{stats['packets_lost']}, late {stats['packets_late']}, malformed "
          f"{stats['packets_malformed']}, discarded {stats['packets_discarded']}, repaired "
          f"{stats['frames_repaired']} frames, concealed {stats['concealed_frames']}")
    if stats["format"] != "opus/48000/2":
        raise Failure(f"the client played {stats['format']}, not opus/48000/2")
    for field in ("packets_lost", "packets_late", "packets_malformed", "packets_discarded",
                  "frames_repaired", "concealed_frames"):
        if stats[field]:
            raise Failure(f"the client's {field} is {stats[field]}: {stats}")
    if stats["packets_received"] < 100:
        raise Failure(f"the client received {stats['packets_received']} packets")
    try:
        expect_tones(harness.read_wav(tmp("client.wav")), "the client's WAV")
    except Failure as e:
        if not SANITIZED:
            raise
        print(f"not asserted under a sanitizer: {e} (underruns {stats['underruns']}, frames "
              f"discarded {stats['frames_discarded']}, resyncs {stats['resyncs']})")


# ---- audiocast-server -> third-party receivers -----------------------------

def server_to_ffmpeg():
    need("ffmpeg")
    write_tones()
    with Children() as children:
        writer = server(children, "--file", tmp("tones.wav"), "--sdp", tmp("stream.sdp"),
                        "--duration", "0.001", "--quiet")
        expect_exit(writer, 0, 10)
        with open(tmp("stream.sdp")) as f:
            sdp = f.read()
        if "a=rtpmap:96 opus/48000/2" not in sdp or "sprop-stereo=1" not in sdp:
            raise Failure(f"the server's SDP does not describe stereo Opus:\n{sdp}")
        ffmpeg = children.start(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
                                 "-y", "-protocol_whitelist", "file,udp,rtp",
                                 "-i", tmp("stream.sdp"), "-c:a", "pcm_s16le", "-ac", "2",
                                 "-f", "s16le", tmp("ffmpeg.raw")], "ffmpeg")
        wait_until_bound(PORT)
        expect_exit(server(children, "--file", tmp("tones.wav"), "--quiet"), 0, 15)
        expect_exit(ffmpeg, 0, 15)  # at the server's BYE
    expect_tones(read_raw(tmp("ffmpeg.raw")), "ffmpeg's decode")


def server_to_gstreamer():
    need("gst-launch-1.0")
    write_tones()
    caps = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96"
    with Children() as children:
        gst = children.start([
            "gst-launch-1.0", "-e", "-q",
            "udpsrc", f"address={GROUP}", f"port={PORT}", "multicast-iface=lo", f"caps={caps}",
            "!", "rtpjitterbuffer", "latency=100",
            "!", "rtpopusdepay", "!", "opusdec", "!", "audioconvert",
            "!", "audio/x-raw,format=S16LE,channels=2", "!", "wavenc",
            "!", "filesink", f"location={tmp('gst.wav')}"], "gstreamer")
        wait_until_bound(PORT)
        expect_exit(server(children, "--file", tmp("tones.wav"), "--quiet"), 0, 15)
        time.sleep(0.5)
        gst.proc.send_signal(signal.SIGINT)
        expect_exit(gst, 0, 10)
    expect_tones(harness.read_wav(tmp("gst.wav")), "GStreamer's decode")


# ---- third-party senders -> audiocast-client -------------------------------

def ffmpeg_to_client():
    need("ffmpeg")
    write_tones()
    url = f"rtp://{GROUP}:{PORT}?ttl=1&localaddr=127.0.0.1"
    ffmpeg_args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
                   "-i", tmp("tones.wav"), "-c:a", "libopus", "-b:a", "96k", "-f", "rtp",
                   "-sdp_file", tmp("ffmpeg.sdp"), url]
    with Children() as children:
        dry = children.start(ffmpeg_args[:-1] + ["-t", "0.01", url], "ffmpeg (SDP)")
        expect_exit(dry, 0, 15)
        with open(tmp("ffmpeg.sdp")) as f:
            print(f"ffmpeg's SDP:\n{f.read().strip()}")
        c = client(children, "--sdp", tmp("ffmpeg.sdp"), "--duration", "12")
        c.wait_for_line(r"listening on", 10)
        expect_exit(children.start(ffmpeg_args, "ffmpeg"), 0, 15)
        c.wait_for_line(r"no packets for \d+ s and no BYE", 6)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    check_client("ffmpeg's libopus to the client")


def gstreamer_to_client():
    need("gst-launch-1.0")
    write_tones()
    with Children() as children:
        c = client(children, "--codec", "opus", "--channels", "2", "--duration", "8")
        c.wait_for_line(r"listening on", 10)
        gst = children.start([
            "gst-launch-1.0", "-q",
            "filesrc", f"location={tmp('tones.wav')}", "!", "wavparse",
            "!", "audioconvert", "!", "opusenc", "bitrate=96000", "inband-fec=true",
            "!", "rtpopuspay",
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"], "gstreamer")
        expect_exit(gst, 0, 15)
        time.sleep(0.5)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    check_client("GStreamer's opusenc to the client")


CASES = {
    "opus_server_to_ffmpeg": server_to_ffmpeg,
    "opus_server_to_gstreamer": server_to_gstreamer,
    "opus_ffmpeg_to_client": ffmpeg_to_client,
    "opus_gstreamer_to_client": gstreamer_to_client,
}


def set_up(bin_dir, tmp_dir):
    global BIN
    BIN = bin_dir
    interop.set_up(bin_dir, tmp_dir)


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "interop", set_up))
