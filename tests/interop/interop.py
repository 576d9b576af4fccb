#!/usr/bin/env python3
"""audiocast against real third-party RTP tools, both ways, bit for bit:
ffmpeg and GStreamer receive from audiocast-server, and send to
audiocast-client. Also: three clients' RTCP reports in the server's STATUS.

    tests/network/netns-run python3 tests/interop/interop.py --bin-dir DIR CASE

Each case runs inside a private network namespace (multicast on lo only);
ctest runs each as its own test (label interop). Exit 0 passed, 1 failed,
77 skipped with the reason (a tool that is not installed).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

BIN = ""
TMP = ""
GROUP, PORT = "239.255.0.1", 5004

# (encoding, rate, channels): every value the issue names, in two formats.
FORMATS = {
    "l16_48k_stereo": ("L16", 48000, 2),
    "l24_44k1_mono": ("L24", 44100, 1),
}


def tmp(name):
    return os.path.join(TMP, name)


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        harness.skip(f"{', '.join(missing)} not installed (Debian: ffmpeg, gstreamer1.0-tools, "
                     "gstreamer1.0-plugins-base, gstreamer1.0-plugins-good; scripts/setup "
                     "installs them)")


def source_for(fmt, seconds=2.0, seed=5):
    encoding, rate, channels = FORMATS[fmt]
    sound = harness.noise(rate, channels, 3 if encoding == "L24" else 2, seconds, seed)
    harness.write_wav(tmp("source.wav"), sound)
    return sound


def wait_until_bound(port, timeout=15):
    """Waits until some socket in the namespace is bound to UDP `port`: the
    tool has started and joined (its start-up can take seconds, cold)."""
    wanted = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/udp") as f:
            if any(wanted in line.split("->")[0] for line in f.readlines()[1:]):
                time.sleep(0.3)  # and is past its first reads
                return
        time.sleep(0.05)
    raise Failure(f"nothing bound UDP port {port} within {timeout} s")


def server(children, *args):
    return children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                           "--group", GROUP, "--port", str(PORT), *args], "server")


def client(children, *args):
    # Compared with the source sample by sample: no resampling for clock drift.
    return children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                           "--no-playback", "--latency-ms", "150", "--max-rate-ppm", "0",
                           "--output", tmp("client.wav"),
                           "--stats-json", tmp("client.json"), *args], "client")


def check_received(got, source, what, slipped_frames=0):
    lead = harness.expect_starts_after_silence(got, source, what, slipped_frames)
    print(f"{what}: {got.frames} frames, the source's {source.frames} bit-exact"
          + (f" after {lead} frames of silence" if lead else ""))


def check_client(source, slipped_frames=0):
    """The client's WAV holds the source bit-exact (but for the gap a
    slipping audiocast-server reports) and its figures show no loss;
    returns the figures."""
    stats = harness.read_json(tmp("client.json"))
    check_received(harness.read_wav(tmp("client.wav")), source, "the client's WAV",
                   slipped_frames)
    if stats["packets_lost"] or stats["packets_late"] or stats["concealed_frames"]:
        raise Failure(f"the client lost audio: {stats}")
    return stats


# ---- audiocast-server -> third-party receivers -----------------------------

def server_to_ffmpeg(fmt):
    need("ffmpeg")
    source = source_for(fmt)
    with Children() as children:
        # The SDP first: ffmpeg reads group, port and format from it.
        writer = server(children, "--file", tmp("source.wav"), "--sdp", tmp("stream.sdp"),
                        "--duration", "0.001", "--quiet")
        expect_exit(writer, 0, 10)
        # Raw PCM out: ffmpeg writes 24-bit WAV as WAVE_FORMAT_EXTENSIBLE,
        # which Python's wave module does not read.
        raw = "s24le" if source.width == 3 else "s16le"
        ffmpeg = children.start(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
                                 "-y", "-protocol_whitelist", "file,udp,rtp",
                                 "-i", tmp("stream.sdp"), "-c:a", f"pcm_{raw}", "-f", raw,
                                 tmp("ffmpeg.raw")], "ffmpeg")
        wait_until_bound(PORT)
        expect_exit(server(children, "--file", tmp("source.wav"), "--quiet"), 0, 15)
        # ffmpeg ends the input at the server's RTCP BYE.
        expect_exit(ffmpeg, 0, 15)
    with open(tmp("ffmpeg.raw"), "rb") as f:
        got = harness.Sound(source.rate, source.channels, source.width, f.read())
    check_received(got, source, "ffmpeg's output")


def server_to_gstreamer(fmt):
    need("gst-launch-1.0")
    encoding, rate, channels = FORMATS[fmt]
    source = source_for(fmt)
    caps = (f"application/x-rtp,media=audio,clock-rate={rate},encoding-name={encoding},"
            f"channels={channels}")
    with Children() as children:
        gst = children.start([
            "gst-launch-1.0", "-e", "-q",
            "udpsrc", f"address={GROUP}", f"port={PORT}", "multicast-iface=lo", f"caps={caps}",
            "!", "rtpjitterbuffer", "latency=100",
            "!", f"rtp{encoding}depay", "!", "audioconvert", "!", "wavenc",
            "!", "filesink", f"location={tmp('gst.wav')}"], "gstreamer")
        wait_until_bound(PORT)
        expect_exit(server(children, "--file", tmp("source.wav"), "--quiet"), 0, 15)
        time.sleep(0.5)  # past the jitter buffer
        gst.proc.send_signal(signal.SIGINT)  # -e: end of stream, so wavenc finishes the file
        expect_exit(gst, 0, 10)
    check_received(harness.read_wav(tmp("gst.wav")), source, "GStreamer's WAV")


# ---- third-party senders -> audiocast-client -------------------------------

def ffmpeg_to_client(fmt):
    need("ffmpeg")
    encoding, rate, channels = FORMATS[fmt]
    source = source_for(fmt)
    codec = "pcm_s24be" if encoding == "L24" else "pcm_s16be"
    url = f"rtp://{GROUP}:{PORT}?ttl=1&localaddr=127.0.0.1"
    ffmpeg_args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
                   "-i", tmp("source.wav"), "-c:a", codec, "-f", "rtp",
                   "-sdp_file", tmp("ffmpeg.sdp"), url]
    with Children() as children:
        # A first, short run writes ffmpeg's SDP, for the client to start from.
        dry = children.start(ffmpeg_args[:-1] + ["-t", "0.01", url], "ffmpeg (SDP)")
        expect_exit(dry, 0, 15)
        c = client(children, "--sdp", tmp("ffmpeg.sdp"), "--duration", "12")
        c.wait_for_line(r"listening on", 10)
        expect_exit(children.start(ffmpeg_args, "ffmpeg"), 0, 15)
        # ffmpeg's RTP muxer sends no BYE: the client notices the silence.
        c.wait_for_line(r"no packets for \d+ s and no BYE", 6)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    stats = check_client(source)
    if stats["latency_source"] != "sender reports":
        raise Failure(f"latency was measured from {stats['latency_source']}, not from ffmpeg's "
                      "sender reports")
    print(f"latency from ffmpeg's sender reports: p50 {stats['latency_ms']['p50']:.3f} ms, "
          f"p99 {stats['latency_ms']['p99']:.3f} ms")


def gstreamer_to_client(fmt):
    need("gst-launch-1.0")
    encoding, rate, channels = FORMATS[fmt]
    source = source_for(fmt)
    raw = "S24BE" if encoding == "L24" else "S16BE"
    with Children() as children:
        c = client(children, "--format", encoding, "--rate", str(rate), "--channels",
                   str(channels), "--duration", "6")
        c.wait_for_line(r"listening on", 10)
        gst = children.start([
            "gst-launch-1.0", "-q",
            "filesrc", f"location={tmp('source.wav')}", "!", "wavparse",
            "!", "audioconvert", "!", f"audio/x-raw,format={raw}",
            "!", f"rtp{encoding}pay",
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"], "gstreamer")
        expect_exit(gst, 0, 15)  # udpsink syncs to the clock: real time
        time.sleep(0.5)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    check_client(source)


# ---- RTCP among audiocast's own -------------------------------------------

def listener_reports():
    """Three clients report over RTCP; the server's STATUS lists them."""
    with Children() as children:
        clients = [children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                                   "--no-playback", "--duration", "30", "--quiet"],
                                  f"client{i}") for i in range(3)]
        time.sleep(0.5)
        srv = children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                              "--quiet"], "server", stdin=subprocess.PIPE)
        # Receivers report first after 1-3 s (RFC 3550 A.7), then every 2-6 s.
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline:
            time.sleep(1)
            line = srv.wait_for_line(r"^playing at", 5, after=srv.send("STATUS\n"))
            if "; 3 listeners (3 reporting" in line:
                break
        if "; 3 listeners (3 reporting: worst loss 0.0 %, 0 lost; worst jitter" not in line:
            raise Failure(f"the server's STATUS does not show three listeners: '{line}'")
        print(f"server: {line}")
        # One leaves: its BYE takes it off the list at once.
        clients[0].proc.send_signal(signal.SIGINT)
        expect_exit(clients[0], 0, 5)
        time.sleep(0.2)
        line = srv.wait_for_line(r"^playing at", 5, after=srv.send("STATUS\n"))
        if "; 2 listeners (2 reporting" not in line:
            raise Failure(f"after one client left, STATUS says: '{line}'")
        print(f"after one left: {line}")
        srv.send("QUIT\n")
        expect_exit(srv, 0, 5)


def own_sdp_and_sap():
    """audiocast's own SDP and SAP: a client plays a stream from the server's
    SDP file and another finds it by name on SAP; --discover lists it while it
    runs and not after the server withdrew it."""
    source = source_for("l24_44k1_mono", seconds=6.0)
    client_bin = os.path.join(BIN, "audiocast-client")
    with Children() as children:
        writer = server(children, "--file", tmp("source.wav"), "--sdp", tmp("own.sdp"),
                        "--duration", "0.001", "--quiet")
        expect_exit(writer, 0, 10)
        by_sdp = client(children, "--sdp", tmp("own.sdp"), "--duration", "10")
        by_sdp.wait_for_line(r"listening on .* for L24/44100/1", 10)
        srv = server(children, "--file", tmp("source.wav"), "--sap", "--sap-interval", "1",
                     "--name", "studio B", "--quiet")
        listing = children.start([client_bin, "--interface", "lo", "--discover", "--duration",
                                  "1.5"], "discover")
        expect_exit(listing, 0, 10)
        line = next((l for l in listing.lines if l.startswith('"studio B"')), None)
        if line is None or "239.255.0.1:5004  L24/44100/1" not in line:
            raise Failure(f"--discover did not list the stream: {listing.lines}")
        print(f"--discover: {line}")
        by_name = children.start([client_bin, "--interface", "lo", "--sap", "studio B",
                                  "--no-playback", "--duration", "2", "--quiet",
                                  "--stats-json", tmp("by_name.json")], "by name")
        expect_exit(by_name, 0, 15)
        # Listening across the server's end: heard, then withdrawn.
        if srv.proc.poll() is not None:
            raise Failure("the server ended before the withdrawal could be heard")
        across = children.start([client_bin, "--interface", "lo", "--discover", "--duration",
                                 "4"], "discover across")
        expect_exit(srv, 0, 15)
        if across.proc.poll() is not None:
            raise Failure("--discover ended before the server did")
        expect_exit(across, 0, 10)
        if any(l.startswith('"studio B"') for l in across.lines):
            raise Failure(f"the withdrawn stream is still listed: {across.lines}")
        expect_exit(by_sdp, 0, 15)
    # A server that fell behind on a loaded host skipped ahead, and said so.
    check_received(harness.read_wav(tmp("client.wav")), source, "the --sdp client's WAV",
                   harness.server_slipped_frames(srv))
    named = harness.read_json(tmp("by_name.json"))
    if named["packets_received"] < 300 or named["packets_lost"] != 0:
        raise Failure(f"the --sap client received {named['packets_received']} packets, "
                      f"lost {named['packets_lost']}")
    print(f"--sap 'studio B': {named['packets_received']} packets, none lost; "
          "withdrawn at the end")


def plain_rtp_to_client():
    """--plain-rtp: packets without the send-time extension and an SDP without
    a=extmap (for receivers that mishandle extensions, PipeWire 0.3 among
    them); audiocast-client still plays it bit-exact and measures latency
    from the sender's reports."""
    source = source_for("l16_48k_stereo", seconds=6.0)
    with Children() as children:
        writer = server(children, "--file", tmp("source.wav"), "--plain-rtp", "--sdp",
                        tmp("plain.sdp"), "--duration", "0.001", "--quiet")
        expect_exit(writer, 0, 10)
        with open(tmp("plain.sdp"), encoding="utf-8") as f:
            sdp = f.read()
        if "a=extmap" in sdp:
            raise Failure(f"--plain-rtp still announces the extension:\n{sdp}")
        c = client(children, "--sdp", tmp("plain.sdp"), "--duration", "9")
        c.wait_for_line(r"listening on", 10)
        srv = server(children, "--file", tmp("source.wav"), "--plain-rtp", "--quiet")
        expect_exit(srv, 0, 15)
        expect_exit(c, 0, 15)
    stats = check_client(source, harness.server_slipped_frames(srv))
    if stats["latency_source"] != "sender reports" or stats["latency_samples"] == 0:
        raise Failure(f"latency without the extension: {stats}")
    print(f"plain RTP: bit-exact, latency p99 {stats['latency_ms']['p99']} ms from sender reports")


# ---- PipeWire (module-rtp-source) ------------------------------------------

PIPEWIRE_CONF = """
context.objects = [
  { factory = adapter args = { factory.name = support.null-audio-sink node.name = "test-sink"
      media.class = "Audio/Sink" audio.position = [ FL FR ] audio.rate = 48000 } }
]
context.modules = [
  { name = libpipewire-module-rtp-source
    args = { sap.ip = "224.0.0.56" sap.port = 9875 local.ifname = "lo" } }
]
"""


def start_pipewire(children, conf=None):
    """A private D-Bus session, PipeWire with a null sink and its RTP
    receiver (module-rtp-source, listening for SAP on 224.0.0.56), and
    WirePlumber to link what appears to the sink; returns their environment."""
    need("pipewire", "wireplumber", "pw-record", "dbus-daemon")
    home = tmp("pw-home")
    os.makedirs(os.path.join(home, ".config", "pipewire", "pipewire.conf.d"), exist_ok=True)
    runtime = os.path.join(home, "runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    with open(os.path.join(home, ".config", "pipewire", "pipewire.conf.d", "test.conf"),
              "w") as f:
        f.write(conf or PIPEWIRE_CONF)
    env = dict(os.environ, HOME=home, XDG_RUNTIME_DIR=runtime, XDG_CONFIG_HOME=os.path.join(
        home, ".config"))
    bus = children.start(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                         "dbus", env=env)
    env["DBUS_SESSION_BUS_ADDRESS"] = bus.wait_for_line(r"^unix:", 10).strip()
    pw = children.start(["pipewire"], "pipewire", env=env)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(runtime, "pipewire-0")):
        if pw.proc.poll() is not None or time.monotonic() > deadline:
            raise Failure(f"PipeWire did not start\n{pw.transcript()}")
        time.sleep(0.05)
    children.start(["wireplumber"], "wireplumber", env=env)
    time.sleep(1.0)
    return env


def correlated_share(got, source, block=240, threshold=0.95):
    """How many of `got`'s audible 5 ms blocks (left channel, 16-bit) follow
    `source`: (audible, correlated), a block counting when its normalized
    correlation with the source at the best lag near the last one found is
    above `threshold`. PipeWire resamples a little to follow its own clock,
    so the recording is the source slowly sliding in time, not bit-exact."""
    import math
    import struct as st
    g = st.unpack(f"<{len(got.data) // 2}h", got.data)[0::got.channels]
    s = st.unpack(f"<{len(source.data) // 2}h", source.data)[0::source.channels]

    def corr(a0, b0):
        ab = aa = bb = 0
        for x, y in zip(g[a0:a0 + block], s[b0:b0 + block]):
            ab += x * y
            aa += x * x
            bb += y * y
        return ab / math.sqrt(aa * bb) if aa and bb else 0.0

    starts = [k for k in range(0, len(g) - block, block)
              if max(abs(v) for v in g[k:k + block]) > 1000]
    if not starts:
        return 0, 0
    def acquire(k):
        # The block's place in the source: least squared error over its
        # first 32 samples, with an early exit.
        probe = g[k:k + 32]
        best, found = None, 0
        for j in range(0, len(s) - block):
            e = 0
            for x, y in zip(probe, s[j:j + 32]):
                e += (x - y) * (x - y)
                if best is not None and e >= best:
                    break
            if best is None or e < best:
                best, found = e, j - k
        return found

    lag = None
    correlated = reacquired = 0
    for k in starts:
        if lag is not None:
            candidates = [d for d in range(lag - 6, lag + 7) if 0 <= k + d <= len(s) - block]
            c, d = max((corr(k, k + d), d) for d in candidates) if candidates else (0.0, lag)
            if c > threshold:
                correlated += 1
                lag = d
                continue
        if reacquired >= 20:
            continue
        reacquired += 1
        lag = acquire(k)
        if 0 <= k + lag <= len(s) - block and corr(k, k + lag) > threshold:
            correlated += 1
    return len(starts), correlated


def tones(rate, seconds):
    """Three tones that share no period (311, 733 and 1297 Hz), the left and
    right channels apart: band-limited, so a recording resampled by a
    fraction of a frame still correlates with it, unlike white noise."""
    import math
    import struct as st
    frames = int(rate * seconds)
    data = bytearray()
    for i in range(frames):
        t = i / rate
        left = 0.3 * (math.sin(2 * math.pi * 311 * t) + math.sin(2 * math.pi * 733 * t) +
                      math.sin(2 * math.pi * 1297 * t))
        right = 0.5 * math.sin(2 * math.pi * 523 * t)
        data += st.pack("<hh", int(left * 32767 / 1.0 * 0.9), int(right * 32767 * 0.9))
    return harness.Sound(rate, 2, 2, bytes(data))


def server_to_pipewire():
    """PipeWire 0.3's RTP receiver finds audiocast-server on SAP (224.0.0.56,
    --sap-group) and plays it into a null sink, recorded from the sink's
    monitor. With --plain-rtp the recording is the source, in pieces (PipeWire
    drops or repeats a frame now and then to follow its clock); with the
    send-time extension PipeWire reads the extension as audio (the figure is
    printed)."""
    source = tones(48000, 3.0)
    harness.write_wav(tmp("source.wav"), source)
    results = {}
    with Children() as children:
        env = start_pipewire(children)
        for mode, extra in (("extension", []), ("plain", ["--plain-rtp"])):
            got_path = tmp(f"pipewire-{mode}.wav")
            rec = children.start(["pw-record", "-P", "{ stream.capture.sink = true }",
                                  "--target", "test-sink", "--rate", "48000", "--channels", "2",
                                  "--format", "s16", got_path], f"pw-record {mode}", env=env)
            time.sleep(0.5)
            srv = server(children, "--file", tmp("source.wav"), "--sap-group", "224.0.0.56",
                         "--sap-interval", "1", "--quiet", *extra)
            expect_exit(srv, 0, 20)
            time.sleep(1.0)
            rec.end()
            got = harness.read_wav(got_path)
            results[mode] = correlated_share(got, source)
    share = {m: (matched / audible if audible else 0.0) for m, (audible, matched) in results.items()}
    print(f"PipeWire recorded audiocast-server: with --plain-rtp {results['plain'][1]} of "
          f"{results['plain'][0]} audible 5 ms blocks follow the source (correlation > 0.95) "
          f"({share['plain']:.0%}); with the send-time extension {results['extension'][1]} of "
          f"{results['extension'][0]} ({share['extension']:.0%})")
    if results["plain"][0] < 400 or share["plain"] < 0.9:
        raise Failure(f"PipeWire's recording of the plain RTP stream: {results['plain']}")


PIPEWIRE_SINK_CONF = """
context.modules = [
  { name = libpipewire-module-rtp-sink
    args = { destination.ip = "239.255.0.9" destination.port = 5010 local.ifname = "lo"
             net.loop = true sap.ip = "224.0.0.56" sap.port = 9875 sess.name = "from pipewire"
             audio.format = "S16BE" audio.rate = 48000 audio.channels = 2
             audio.position = [ FL FR ] stream.props = { node.name = "rtp-sink" } } }
]
"""


def source_in_pieces(got, source):
    """Checks that `got` (16-bit stereo) is silence, then the source in
    order, bit-exact, in one or more pieces separated by runs of silence
    (PipeWire fills its own under-runs with silence: the client, which
    conceals nothing here, records what was sent); frames of the source may
    be missing between pieces or at the end. Returns (pieces, silent frames
    inserted, source frames missing)."""
    g, s = got.data, source.data
    # The source starts with a silent frame (every tone at phase 0): find
    # its opening rather than the end of the recording's leading silence.
    i = g.find(s[:4 * 64])
    if i < 0 or i % 4 or g[:i].strip(b"\0"):
        raise Failure("the source's first 64 frames are not in the client's WAV after silence")
    pos = pieces = inserted = skipped = 0
    while True:
        n = 0
        while pos + n < len(s) and i + n < len(g) and g[i + n:i + n + 4] == s[pos + n:pos + n + 4]:
            n += 4
        pieces += 1
        i, pos = i + n, pos + n
        zeros = len(g[i:]) - len(g[i:].lstrip(b"\0"))
        zeros -= zeros % 4
        i += zeros
        if i >= len(g) or pos >= len(s):
            break
        # The next piece starts at the same place in the source or a
        # little later (frames PipeWire dropped, with or without silence in
        # their place: under AddressSanitizer's load it skips), never earlier.
        j = s.find(g[i:i + 4 * 64], pos)
        while j >= 0 and j % 4:
            j = s.find(g[i:i + 4 * 64], j + 1)
        if j < 0 or j - pos > 4 * 4096:
            raise Failure(f"the client's WAV departs from the source at its frame {pos // 4} "
                          f"(recording frame {i // 4}) and does not resume it in order")
        inserted += zeros // 4
        skipped += (j - pos) // 4
        pos = j
    if g[i:].strip(b"\0"):
        raise Failure("audio after the end of the source in the client's WAV")
    return pieces, inserted, skipped + (len(s) - pos) // 4


def pipewire_to_client():
    """PipeWire 0.3's RTP sender (module-rtp-sink, announcing on SAP at
    224.0.0.56) plays a file; audiocast-client finds the session by its SAP
    name and records it. PipeWire passes 48 kHz L16 through untouched, so
    the recording is the source bit-exact and in order, except where
    PipeWire itself under-runs on a busy machine (it sends silence there)
    and at the end, which it drops when the stream stops within its last
    quantum (1024 frames)."""
    source = tones(48000, 3.0)
    harness.write_wav(tmp("source.wav"), source)
    with Children() as children:
        env = start_pipewire(children, PIPEWIRE_SINK_CONF)
        c = client(children, "--sap", "from pipewire", "--sap-group", "224.0.0.56",
                   "--duration", "7")
        c.wait_for_line(r"listening on", 15)
        play = children.start(["pw-play", "--target", "rtp-sink", tmp("source.wav")],
                              "pw-play", env=env)
        expect_exit(play, 0, 20)
        expect_exit(c, 0, 20)
    stats = harness.read_json(tmp("client.json"))
    if stats["packets_received"] < 400 or stats["packets_lost"] or stats["concealed_frames"]:
        raise Failure(f"the client lost audio from PipeWire: {stats}")
    pieces, inserted, skipped = source_in_pieces(harness.read_wav(tmp("client.wav")), source)
    delivered = source.frames - skipped
    if skipped > 1024 * pieces:
        raise Failure(f"PipeWire's stream in the client's WAV: {skipped} of the source's "
                      f"{source.frames} frames missing")
    print(f"PipeWire -> audiocast-client (found on SAP): {stats['packets_received']} packets, "
          f"0 lost; {delivered} of the source's {source.frames} frames bit-exact and in order, "
          f"in {pieces} piece(s) with {inserted} frames of PipeWire's silence between them")


CASES = {"listener_reports": listener_reports, "own_sdp_and_sap": own_sdp_and_sap,
         "plain_rtp_to_client": plain_rtp_to_client, "server_to_pipewire": server_to_pipewire,
         "pipewire_to_client": pipewire_to_client}
for _name, _f in (("server_to_ffmpeg", server_to_ffmpeg),
                  ("server_to_gstreamer", server_to_gstreamer),
                  ("ffmpeg_to_client", ffmpeg_to_client),
                  ("gstreamer_to_client", gstreamer_to_client)):
    for _fmt in FORMATS:
        CASES[f"{_name}_{_fmt}"] = (lambda f, fmt: lambda: f(fmt))(_f, _fmt)


def set_up(bin_dir, tmp_dir):
    global BIN, TMP
    BIN, TMP = bin_dir, tmp_dir


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "interop", set_up))
