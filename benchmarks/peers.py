#!/usr/bin/env python3
"""audiocast beside GStreamer on the same stream, in one run.

    benchmarks/peers.py --build DIR --out DIR [--seconds S] [--repeats N] [--ptimes "5 1"]
                        [--srtp]

DIR is a build folder (build/release) with the examples and benchmarks built.

Run by scripts/bench inside its private network namespace; anywhere else it
exits 77 before starting anything. For each packet time and each repeat, two
rounds stream the same sound file (S seconds of noise, 48 kHz stereo L16):

  audiocast round  audiocast-server --file     -> audiocast-client, GStreamer receiver, arrivals
  GStreamer round  filesrc ! rtpL16pay ! udpsink -> the same three

and a third round measures the machine's floor with audiocast-bench-floor: a
sender that only sleeps to each deadline and sends, and receivers that only
wait and read (one wake-up a packet, and one every 10 ms), again three
listening sockets. What a program spends beyond the floor is its own.

The GStreamer receiver is udpsrc ! rtpjitterbuffer ! rtpL16depay ! wavenc;
audiocast-client runs with --no-playback --output; audiocast-bench-arrivals
judges each sender's punctuality against its own RTP timestamps. Every
recording must hold the source bit-exact (silence before and after aside),
or the run fails. CPU is each process's user + system time from wait4(2),
whole process, start-up included; on Linux the total is exact (scheduler
run time), only its user/system split is sampled. On loopback the kernel
delivers each datagram to every listening socket inside the sender's send
call, so a sender's figure includes that delivery, the same for both senders.

With --srtp, two more rounds each time stream the same with SRTP
(AES_CM_128_HMAC_SHA1_80, a fresh key each round): audiocast-server --srtp
and audiocast-client --srtp, GStreamer's srtpenc and srtpdec; the table
then shows what SRTP adds to each program, beside the same without it.

Writes DIR/peers.csv (one row per process and round) and prints the table
of medians that the README's Performance section shows.
"""

import argparse
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402  (the tests' namespace check and WAV helpers)

GROUP, PORT = "239.255.0.1", 5004
CAPS = ("application/x-rtp,media=audio,clock-rate=48000,encoding-name=L16,channels=2,"
        "payload=96")
HEADER = ("ptime_ms,repeat,sender,process,seconds,cpu_ms,cpu_percent,bit_exact,"
          "lateness_p50_us,lateness_p99_us,lateness_max_us")


STARTED = []  # every child, so that a failure ends them all (by PID)


class Measured:
    """A child whose CPU time is taken from wait4(2) when it ends."""

    def __init__(self, args, name, log):
        self.name = name
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        STARTED.append(self)
        self.started = time.monotonic()
        self.cpu_s = None
        self.status = None

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                self.cpu_s = usage.ru_utime + usage.ru_stime
                self.wall = time.monotonic() - self.started
                self.status = os.waitstatus_to_exitcode(status)
                self.proc.returncode = self.status
                return self.status
            time.sleep(0.02)
        self.proc.kill()
        self.wait(5)
        raise harness.Failure(f"{self.name} did not end within {timeout} s")

    def interrupt(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)


# The SSRC of the SRTP rounds: srtpdec takes its key from caps that name it.
SRTP_SSRC = 0x5EC0DE


def gst_sender(src, ptime_ms, key=None):
    ns = ptime_ms * 1_000_000
    protect = ([f"ssrc={SRTP_SSRC}", "!", "srtpenc", f"key={base64.b64decode(key).hex()}",
                "rtp-cipher=aes-128-icm", "rtp-auth=hmac-sha1-80", "rtcp-cipher=aes-128-icm",
                "rtcp-auth=hmac-sha1-80"] if key else [])
    return ["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!", "wavparse",
            "!", "audioconvert", "!", "audio/x-raw,format=S16BE",
            "!", "rtpL16pay", "pt=96", f"min-ptime={ns}", f"max-ptime={ns}", *protect,
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"]


def gst_receiver(out, key=None):
    caps = CAPS
    open_ = []
    if key:
        caps = (CAPS.replace("application/x-rtp", "application/x-srtp") +
                f",ssrc=(uint){SRTP_SSRC},srtp-key=(buffer){base64.b64decode(key).hex()},"
                "srtp-cipher=aes-128-icm,srtp-auth=hmac-sha1-80,srtcp-cipher=aes-128-icm,"
                "srtcp-auth=hmac-sha1-80")
        open_ = ["!", "srtpdec"]
    return ["gst-launch-1.0", "-e", "-q", "udpsrc", f"address={GROUP}", f"port={PORT}",
            "multicast-iface=lo", f"caps={caps}", *open_, "!", "rtpjitterbuffer", "latency=100",
            "!", "rtpL16depay", "!", "audioconvert", "!", "wavenc",
            "!", "filesink", f"location={out}"]


def floor_round(args, work, ptime, repeat, log, rows):
    floor = os.path.join(args.build, "benchmarks", "audiocast-bench-floor")
    arrivals_csv = os.path.join(work, f"arrivals-floor-{ptime}ms-{repeat}.csv")
    listen = args.seconds + 3
    receivers = [
        Measured([floor, "--receive", "--seconds", str(listen)], "floor-receiver", log),
        Measured([floor, "--receive", "--seconds", str(listen), "--interval-ms", "10"],
                 "floor-receiver-10ms", log),
        Measured([os.path.join(args.build, "benchmarks", "audiocast-bench-arrivals"), "--group",
                  GROUP, "--port", str(PORT), "--rate", "48000", "--seconds",
                  str(args.seconds - 1), "--label", "floor", "--csv", arrivals_csv], "arrivals",
                 log),
    ]
    time.sleep(1.0)
    send = Measured([floor, "--send", "--ptime-ms", str(ptime), "--seconds", str(args.seconds)],
                    "floor-sender", log)
    for p in [send] + receivers:
        if p.wait(listen + 30) != 0:
            raise harness.Failure(f"{p.name} exited {p.status}; see {log.name}")
    with open(arrivals_csv) as f:
        lines = f.read().splitlines()
    fields = dict(zip(lines[0].split(","), lines[1].split(",")))
    for p in [send] + receivers[:2]:
        late = ((fields["lateness_p50_us"], fields["lateness_p99_us"], fields["lateness_max_us"])
                if p is send else ("", "", ""))
        rows.append([ptime, repeat, "floor", p.name, round(p.wall, 2), round(p.cpu_s * 1000, 2),
                     round(100 * p.cpu_s / p.wall, 3), "", *late])
    print(f"  floor-{ptime}ms-{repeat}: sender {send.cpu_s * 1000:.1f} ms CPU, receiver "
          f"{receivers[0].cpu_s * 1000:.1f} ms, receiver every 10 ms "
          f"{receivers[1].cpu_s * 1000:.1f} ms; lateness p99 {fields['lateness_p99_us']} us",
          flush=True)


def one_round(args, work, source, ptime, repeat, sender, log, rows):
    tag = f"{sender}-{ptime}ms-{repeat}"
    client_wav = os.path.join(work, f"client-{tag}.wav")
    gst_wav = os.path.join(work, f"gst-{tag}.wav")
    arrivals_csv = os.path.join(work, f"arrivals-{tag}.csv")
    src = os.path.join(work, "source.wav")
    examples = os.path.join(args.build, "examples")
    benchmarks = os.path.join(args.build, "benchmarks")
    listen = args.seconds + 3
    key = None
    protect = []
    if sender.endswith("-srtp"):
        # A fresh key each round: an SSRC used again with a key reuses its keystream.
        key = base64.b64encode(os.urandom(30)).decode()
        key_file = os.path.join(work, "stream.key")
        with open(key_file, "w") as f:
            f.write(key + "\n")
        os.chmod(key_file, 0o600)
        protect = ["--srtp", "--key-file", key_file]
    receivers = [
        Measured([os.path.join(examples, "audiocast-client"), "--interface", "lo", "--group", GROUP,
                  "--port", str(PORT), "--no-playback", "--max-rate-ppm", "0", "--output", client_wav,
                  "--duration", str(listen), "--quiet", *protect], "audiocast-client", log),
        Measured(gst_receiver(gst_wav, key), "gstreamer-receiver", log),
        Measured([os.path.join(benchmarks, "audiocast-bench-arrivals"), "--group", GROUP, "--port",
                  str(PORT), "--rate", "48000", "--seconds", str(args.seconds - 1),
                  "--label", sender, "--csv", arrivals_csv], "arrivals", log),
    ]
    time.sleep(1.0)  # every receiver has joined
    if sender.startswith("audiocast"):
        ssrc = ["--ssrc", str(SRTP_SSRC)] if key else []
        send = Measured([os.path.join(examples, "audiocast-server"), "--interface", "lo",
                         "--group", GROUP, "--port", str(PORT), "--file", src,
                         "--ptime-ms", str(ptime), "--quiet", *protect, *ssrc],
                        "audiocast-server", log)
    else:
        send = Measured(gst_sender(src, ptime, key), "gstreamer-sender", log)
    if send.wait(args.seconds + 30) != 0:
        raise harness.Failure(f"{send.name} exited {send.status}; see {log.name}")
    arrivals = receivers[2]
    if arrivals.wait(30) != 0:
        raise harness.Failure(f"arrivals exited {arrivals.status}; see {log.name}")
    time.sleep(0.5)  # past the GStreamer jitter buffer
    receivers[1].interrupt()  # -e: end of stream, so wavenc finishes the file
    for r in receivers[:2]:
        if r.wait(listen + 30) != 0:
            raise harness.Failure(f"{r.name} exited {r.status}; see {log.name}")

    with open(arrivals_csv) as f:
        lines = f.read().splitlines()
    fields = dict(zip(lines[0].split(","), lines[1].split(",")))
    # Every recording holds the source bit-exact, or the round fails.
    for p, wav in ((receivers[0], client_wav), (receivers[1], gst_wav)):
        got = harness.without_silence(harness.read_wav(wav))
        try:
            harness.expect_same_audio(got, harness.without_silence(source), f"{p.name}'s recording")
        except harness.Failure as e:
            raise harness.Failure(f"{sender} round, {ptime} ms: {e}")
    sender_name = "audiocast-server" if sender.startswith("audiocast") else "gstreamer-sender"
    for p in [send] + receivers[:2]:
        late = ((fields["lateness_p50_us"], fields["lateness_p99_us"], fields["lateness_max_us"])
                if p.name == sender_name else ("", "", ""))
        rows.append([ptime, repeat, sender, p.name, round(p.wall, 2), round(p.cpu_s * 1000, 2),
                     round(100 * p.cpu_s / p.wall, 3), "yes", *late])
    print(f"  {tag}: {sender_name} {send.cpu_s * 1000:.1f} ms CPU, audiocast-client "
          f"{receivers[0].cpu_s * 1000:.1f} ms, GStreamer receiver {receivers[1].cpu_s * 1000:.1f} ms;"
          f" sender lateness p99 {fields['lateness_p99_us']} us", flush=True)


def table(rows, ptimes, srtp=False):
    def median(sender, process, ptime, column):
        values = [float(r[column]) for r in rows
                  if r[2] == sender and r[3] == process and r[0] == ptime and r[column] != ""]
        return statistics.median(values) if values else float("nan")

    print()
    print("CPU, % of one core, whole process (median of the repeats), and sender lateness p99:")
    print(f"{'':44}" + "".join(f"{f'{p} ms packets':>18}" for p in ptimes))
    for label, sender, process in (
            ("audiocast-server", "audiocast", "audiocast-server"),
            ("GStreamer sender (rtpL16pay ! udpsink)", "gstreamer", "gstreamer-sender"),
            ("audiocast-client, audiocast's stream", "audiocast", "audiocast-client"),
            ("audiocast-client, GStreamer's stream", "gstreamer", "audiocast-client"),
            ("GStreamer receiver, audiocast's stream", "audiocast", "gstreamer-receiver"),
            ("GStreamer receiver, GStreamer's stream", "gstreamer", "gstreamer-receiver"),
            ("floor: a paced sender (sleep, send)", "floor", "floor-sender"),
            ("floor: a receiver woken by each packet", "floor", "floor-receiver"),
            ("floor: a receiver woken every 10 ms", "floor", "floor-receiver-10ms")):
        print(f"{label:44}" + "".join(f"{median(sender, process, p, 6):>16.2f} %" for p in ptimes))
    if srtp:
        for label, sender, process in (
                ("audiocast-server --srtp", "audiocast-srtp", "audiocast-server"),
                ("GStreamer sender ! srtpenc", "gstreamer-srtp", "gstreamer-sender"),
                ("audiocast-client --srtp, audiocast's", "audiocast-srtp", "audiocast-client"),
                ("audiocast-client --srtp, GStreamer's", "gstreamer-srtp", "audiocast-client"),
                ("GStreamer srtpdec, audiocast's stream", "audiocast-srtp", "gstreamer-receiver"),
                ("GStreamer srtpdec, GStreamer's stream", "gstreamer-srtp",
                 "gstreamer-receiver")):
            print(f"{label:44}" + "".join(f"{median(sender, process, p, 6):>16.2f} %"
                                          for p in ptimes))
    for label, sender, process in (("sender lateness p99, audiocast", "audiocast",
                                    "audiocast-server"),
                                   ("sender lateness p99, GStreamer", "gstreamer",
                                    "gstreamer-sender"),
                                   ("sender lateness p99, floor", "floor", "floor-sender")):
        print(f"{label:44}" + "".join(f"{median(sender, process, p, 9):>15.1f} us"
                                      for p in ptimes))
    for p in ptimes:
        for ours, theirs, what in (("audiocast-server", "gstreamer-sender", "sender"),
                                   ("audiocast-client", "gstreamer-receiver", "receiver")):
            a = median("audiocast", ours, p, 6) if what == "sender" else statistics.median(
                [median(s, ours, p, 6) for s in ("audiocast", "gstreamer")])
            g = median("gstreamer", theirs, p, 6) if what == "sender" else statistics.median(
                [median(s, theirs, p, 6) for s in ("audiocast", "gstreamer")])
            print(f"ratio at {p} ms, {what}: audiocast / GStreamer = {a / g:.2f}")


def plot(rows, ptimes, out):
    """DIR/peers.png: CPU of each program beside its floor, a group per packet time."""
    if subprocess.call(["sh", "-c", "command -v gnuplot >/dev/null"]) != 0:
        print("benchmarks/peers.py: gnuplot not found; no graph (Debian: gnuplot-nox)")
        return
    series = (("audiocast-server", "audiocast", "audiocast-server"),
              ("GStreamer sender", "gstreamer", "gstreamer-sender"),
              ("floor sender", "floor", "floor-sender"),
              ("audiocast-client", None, "audiocast-client"),
              ("GStreamer receiver", None, "gstreamer-receiver"),
              ("floor receiver, every packet", "floor", "floor-receiver"),
              ("floor receiver, every 10 ms", "floor", "floor-receiver-10ms"))
    data = os.path.join(out, "peers.dat")
    with open(data, "w") as f:
        f.write("program " + " ".join(f"{p}ms" for p in ptimes) + "\n")
        for label, sender, process in series:
            values = []
            for p in ptimes:
                cpu = [float(r[6]) for r in rows if r[3] == process and r[0] == p and
                       (sender is None or r[2] == sender)]
                values.append(statistics.median(cpu) if cpu else 0)
            f.write('"' + label + '" ' + " ".join(f"{v:.3f}" for v in values) + "\n")
    script = f"""set terminal pngcairo size 1000,520
set output '{os.path.join(out, "peers.png")}'
set title 'CPU on one stream, 48 kHz stereo L16 (median of the repeats)'
set ylabel '% of one core, whole process'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set xtics rotate by -20
plot for [i=2:{len(ptimes) + 1}] '{data}' using i:xtic(1) title columnhead(i)
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="a build folder with the examples and "
                        "benchmarks built (build/release)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ptimes", default="5 1")
    parser.add_argument("--srtp", action="store_true",
                        help="also stream with SRTP, both programs, and show what it adds")
    args = parser.parse_args()
    if not 5 <= args.seconds <= 120 or not 1 <= args.repeats <= 10:
        parser.error("--seconds must be 5-120 and --repeats 1-10")
    ptimes = [int(p) for p in args.ptimes.split()]
    harness.require_private_namespace()
    for tool in ("gst-launch-1.0",):
        if subprocess.call(["sh", "-c", f"command -v {tool} >/dev/null"]) != 0:
            harness.skip(f"{tool} not installed (Debian: gstreamer1.0-tools; scripts/setup)")

    rows = []
    with tempfile.TemporaryDirectory(prefix="audiocast-peers-") as work, \
            open(os.path.join(args.out, "peers.log"), "w") as log:
        source = harness.noise(48000, 2, 2, args.seconds, seed=16)
        harness.write_wav(os.path.join(work, "source.wav"), source)
        for ptime in ptimes:
            for repeat in range(1, args.repeats + 1):
                # Alternating, so that a disturbance of the machine falls on both.
                senders = ["audiocast", "gstreamer"]
                if args.srtp:
                    senders += ["audiocast-srtp", "gstreamer-srtp"]
                for sender in (senders if repeat % 2 else senders[::-1]):
                    one_round(args, work, source, ptime, repeat, sender, log, rows)
                floor_round(args, work, ptime, repeat, log, rows)
    with open(os.path.join(args.out, "peers.csv"), "w") as f:
        f.write(HEADER + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")
    table(rows, ptimes, args.srtp)
    plot(rows, ptimes, args.out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.Failure as e:
        print(f"benchmarks/peers.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        for child in STARTED:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
