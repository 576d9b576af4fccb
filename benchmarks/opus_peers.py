#!/usr/bin/env python3
"""CPU of one Opus stream, audiocast beside GStreamer, in one run.

    benchmarks/opus_peers.py --build DIR --out DIR [--seconds S] [--repeats N]

DIR is a build folder (build/release) with the examples built. Run inside a
private network namespace (scripts/bench makes one); anywhere else it exits
77 before starting anything. Each repeat has two rounds that stream the same
sound file (S seconds, 48 kHz stereo: two tones under noise) as Opus, 20 ms
frames at 96 kbit/s, complexity 9, in-band FEC for 5 % loss, on both sides:

  audiocast round  audiocast-server --codec opus  -> audiocast-client, GStreamer receiver
  GStreamer round  filesrc ! opusenc ! rtpopuspay ! udpsink -> the same two

The GStreamer receiver is udpsrc ! rtpjitterbuffer ! rtpopusdepay ! opusdec !
wavenc; audiocast-client runs with --no-playback --output. So the sender's
figure is mostly its encoder and the receiver's its decoder. Every recording
must hold sound for the whole stream, or the run fails. CPU is each
process's user + system time from wait4(2), whole process, start-up
included (benchmarks/peers.py says how exact).

Writes DIR/opus_peers.csv and prints the table of medians.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402  (Measured, and the tests' harness through it)
from peers import Measured, harness  # noqa: E402

GROUP, PORT = peers.GROUP, peers.PORT
CAPS = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96"
HEADER = "repeat,sender,process,seconds,cpu_ms,cpu_percent"


def gst_sender(src):
    return ["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!", "wavparse",
            "!", "audioconvert", "!", "opusenc", "bitrate=96000", "frame-size=20",
            "complexity=9", "inband-fec=true", "packet-loss-percentage=5",
            "!", "rtpopuspay", "pt=96",
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"]


def gst_receiver(out):
    return ["gst-launch-1.0", "-e", "-q", "udpsrc", f"address={GROUP}", f"port={PORT}",
            "multicast-iface=lo", f"caps={CAPS}", "!", "rtpjitterbuffer", "latency=100",
            "!", "rtpopusdepay", "!", "opusdec", "!", "audioconvert",
            "!", "audio/x-raw,format=S16LE", "!", "wavenc", "!", "filesink", f"location={out}"]


def one_round(args, work, seconds, repeat, sender, log, rows):
    tag = f"{sender}-{repeat}"
    client_wav = os.path.join(work, f"client-{tag}.wav")
    gst_wav = os.path.join(work, f"gst-{tag}.wav")
    src = os.path.join(work, "source.wav")
    examples = os.path.join(args.build, "examples")
    listen = seconds + 3
    receivers = [
        Measured([os.path.join(examples, "audiocast-client"), "--interface", "lo", "--group",
                  GROUP, "--port", str(PORT), "--codec", "opus", "--channels", "2",
                  "--no-playback", "--max-rate-ppm", "0", "--output", client_wav,
                  "--duration", str(listen), "--quiet"], "audiocast-client", log),
        Measured(gst_receiver(gst_wav), "gstreamer-receiver", log),
    ]
    time.sleep(1.0)  # every receiver has joined
    if sender == "audiocast":
        send = Measured([os.path.join(examples, "audiocast-server"), "--interface", "lo",
                         "--group", GROUP, "--port", str(PORT), "--file", src, "--codec",
                         "opus", "--bitrate", "96000", "--frame-ms", "20", "--quiet"],
                        "audiocast-server", log)
    else:
        send = Measured(gst_sender(src), "gstreamer-sender", log)
    if send.wait(seconds + 30) != 0:
        raise harness.Failure(f"{send.name} exited {send.status}; see {log.name}")
    time.sleep(0.5)  # past the GStreamer jitter buffer
    receivers[1].interrupt()  # -e: end of stream, so wavenc finishes the file
    for r in receivers:
        if r.wait(listen + 30) != 0:
            raise harness.Failure(f"{r.name} exited {r.status}; see {log.name}")
    # Lossy, so not bit-exact: each recording must hold the whole stream's sound.
    for p, wav in ((receivers[0], client_wav), (receivers[1], gst_wav)):
        heard = harness.without_silence(harness.read_wav(wav)).frames / 48000
        if heard < seconds - 0.5:
            raise harness.Failure(f"{sender} round: {p.name} heard {heard:.2f} s of {seconds} s")
    for p in [send] + receivers:
        rows.append([repeat, sender, p.name, round(p.wall, 2), round(p.cpu_s * 1000, 2),
                     round(100 * p.cpu_s / p.wall, 3)])
    print(f"  {tag}: {send.name} {send.cpu_s * 1000:.1f} ms CPU, audiocast-client "
          f"{receivers[0].cpu_s * 1000:.1f} ms, GStreamer receiver "
          f"{receivers[1].cpu_s * 1000:.1f} ms", flush=True)


def table(rows, seconds):
    def median(sender, process, column):
        values = [float(r[column]) for r in rows
                  if (sender is None or r[1] == sender) and r[2] == process]
        return statistics.median(values) if values else float("nan")

    print()
    print(f"One Opus stream (20 ms, 96 kbit/s, stereo), {seconds} s: CPU, % of one core, whole "
          "process (median of the repeats):")
    for label, sender, process in (
            ("audiocast-server (encodes)", "audiocast", "audiocast-server"),
            ("GStreamer sender (opusenc ! rtpopuspay ! udpsink)", "gstreamer", "gstreamer-sender"),
            ("audiocast-client (decodes), either stream", None, "audiocast-client"),
            ("GStreamer receiver (opusdec), either stream", None, "gstreamer-receiver")):
        print(f"  {label:52} {median(sender, process, 5):6.2f} %")
    s = median("audiocast", "audiocast-server", 5) / median("gstreamer", "gstreamer-sender", 5)
    r = median(None, "audiocast-client", 5) / median(None, "gstreamer-receiver", 5)
    print(f"ratio, sender: audiocast / GStreamer = {s:.2f}")
    print(f"ratio, receiver: audiocast / GStreamer = {r:.2f}")


def tones_under_noise(seconds):
    """440 Hz left and 554 Hz right at 0.3 under noise 30 dB down, 16-bit."""
    import math
    import random
    import struct
    rng = random.Random(16)
    data = bytearray()
    for i in range(seconds * 48000):
        t = i / 48000
        left = 0.3 * math.sin(2 * math.pi * 440 * t) + 0.01 * rng.uniform(-1, 1)
        right = 0.3 * math.sin(2 * math.pi * 554 * t) + 0.01 * rng.uniform(-1, 1)
        data += struct.pack("<hh", round(32767 * left), round(32767 * right))
    return harness.Sound(48000, 2, 2, bytes(data))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not 5 <= args.seconds <= 120 or not 1 <= args.repeats <= 10:
        parser.error("--seconds must be 5-120 and --repeats 1-10")
    harness.require_private_namespace()
    if subprocess.call(["sh", "-c", "command -v gst-launch-1.0 >/dev/null"]) != 0:
        harness.skip("gst-launch-1.0 not installed (Debian: gstreamer1.0-tools; scripts/setup)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="audiocast-opus-peers-") as work, \
            open(os.path.join(args.out, "opus_peers.log"), "w") as log:
        harness.write_wav(os.path.join(work, "source.wav"), tones_under_noise(args.seconds))
        for repeat in range(1, args.repeats + 1):
            for sender in (("audiocast", "gstreamer") if repeat % 2 else
                           ("gstreamer", "audiocast")):
                one_round(args, work, args.seconds, repeat, sender, log, rows)
    with open(os.path.join(args.out, "opus_peers.csv"), "w") as f:
        f.write(HEADER + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")
    table(rows, args.seconds)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.Failure as e:
        print(f"benchmarks/opus_peers.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        for child in peers.STARTED:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
