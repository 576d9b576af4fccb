#!/usr/bin/env python3
"""SMPTE 2022-1 FEC between audiocast and GStreamer, both ways, through a
lossy relay (tests/e2e/lossy_relay.py: 5 % of media and repair packets
dropped, seeded): GStreamer's rtpst2022-1-fecdec rebuilds what the relay
dropped of audiocast-server --fec's stream, and audiocast-client --fec
rebuilds what it dropped of GStreamer's rtpst2022-1-fecenc's.

The source is noise in 1 ms L16 packets, so every packet can be found in a
recording: what a receiver did not rebuild is missing from it (GStreamer),
or concealed (audiocast-client), and nothing else may differ.

    tests/network/netns-run python3 tests/interop/interop_fec.py --bin-dir DIR CASE

Each case runs inside a private network namespace (multicast on lo only).
Exit 0 passed, 1 failed, 77 skipped with the reason.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import interop  # noqa: E402  (its tool checks and temporary files)
from harness import Children, Failure, expect_exit  # noqa: E402
from interop import need, tmp, wait_until_bound  # noqa: E402

BIN = ""
RATE = 48000
PACKET = 48  # frames in a 1 ms packet
FADE = 96
DIRECT = ("239.255.0.1", 5004)
RELAYED = ("239.255.0.2", 5006)  # repairs on 5008 (columns) and 5010 (rows)
L16 = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=L16,channels=2,payload=96"


def relay(children):
    """The lossy relay from DIRECT to RELAYED, media and both repair flows."""
    r = children.start([sys.executable,
                        os.path.join(os.path.dirname(__file__), "..", "e2e", "lossy_relay.py"),
                        "--from", f"{DIRECT[0]}:{DIRECT[1]}",
                        "--to", f"{RELAYED[0]}:{RELAYED[1]}", "--loss", "0.05",
                        "--repair-ports", "2,4", "--after", "20", "--seed", "7",
                        "--counts", tmp("relay.json")], "relay")
    r.wait_for_line(r"relaying", 10)
    return r


def stop_relay(r):
    r.proc.send_signal(signal.SIGTERM)
    expect_exit(r, 0, 10)
    return harness.read_json(tmp("relay.json"))


def packets_missing(got, source):
    """`got` is the source's packets in order with some left out (what
    GStreamer's depayloader writes when packets never came); returns how many
    were left out, after the first packet it holds."""
    size = PACKET * source.frame_bytes
    g, s = got.data, source.data
    first = s.find(g[:size])
    if first < 0 or first % size:
        raise Failure("GStreamer's recording does not start with a packet of the source")
    i, j, missing = 0, first, 0
    while i < len(g):
        if j >= len(s):
            raise Failure(f"GStreamer's recording goes on past the source, at byte {i}")
        if g[i:i + size] == s[j:j + size]:
            i += size
        else:
            missing += 1
        j += size
        if missing > len(s) // size // 4:
            raise Failure(f"GStreamer's recording departs from the source at byte {i}")
    return missing


def server_to_gstreamer():
    """audiocast-server --fec 10x10 --plain-rtp (GStreamer's decoder rebuilds
    the payload alone, so the packets carry no header extension) through the
    relay to two GStreamer receivers: one with rtpst2022-1-fecdec on the
    repair flows, one without."""
    need("gst-launch-1.0")
    source = harness.noise(RATE, 2, 2, 6.0, seed=41)
    harness.write_wav(tmp("source.wav"), source)
    group, port = RELAYED
    tail = ["!", "rtpjitterbuffer", "latency=500", "!", "rtpL16depay", "!", "audioconvert",
            "!", "wavenc", "!", "filesink"]
    with Children() as children:
        r = relay(children)
        with_fec = children.start([
            "gst-launch-1.0", "-e", "-q",
            "rtpst2022-1-fecdec", "name=dec", "size-time=1000000000", *tail,
            f"location={tmp('gst_fec.wav')}",
            "udpsrc", f"address={group}", f"port={port}", "multicast-iface=lo", f"caps={L16}",
            "!", "dec.sink",
            "udpsrc", f"address={group}", f"port={port + 2}", "multicast-iface=lo",
            "caps=application/x-rtp,payload=96", "!", "queue", "!", "dec.fec_0",
            "udpsrc", f"address={group}", f"port={port + 4}", "multicast-iface=lo",
            "caps=application/x-rtp,payload=96", "!", "queue", "!", "dec.fec_1"], "gst with FEC")
        plain = children.start([
            "gst-launch-1.0", "-e", "-q",
            "udpsrc", f"address={group}", f"port={port}", "multicast-iface=lo", f"caps={L16}",
            *tail, f"location={tmp('gst_plain.wav')}"], "gst without FEC")
        for p in (port, port + 2, port + 4):
            wait_until_bound(p)
        server = children.start([os.path.join(BIN, "audiocast-server"), "--interface", "lo",
                                 "--group", DIRECT[0], "--port", str(DIRECT[1]), "--ptime-ms",
                                 "1", "--fec", "10x10", "--plain-rtp", "--file",
                                 tmp("source.wav"), "--quiet"], "server")
        expect_exit(server, 0, 20)
        time.sleep(1.0)  # past the jitter buffers
        for g in (with_fec, plain):
            g.proc.send_signal(signal.SIGINT)  # -e: end of stream, so wavenc finishes
            expect_exit(g, 0, 10)
        counts = stop_relay(r)
    dropped = counts["dropped"]
    missing_fec = packets_missing(harness.read_wav(tmp("gst_fec.wav")), source)
    missing_plain = packets_missing(harness.read_wav(tmp("gst_plain.wav")), source)
    print(f"the relay dropped {dropped} of {dropped + counts['forwarded']} media packets and "
          f"{counts['repairs_dropped']} repairs; GStreamer without FEC misses {missing_plain} "
          f"packets, with rtpst2022-1-fecdec {missing_fec}")
    if dropped < 150 or missing_plain < dropped - 2:
        raise Failure(f"the relay dropped {dropped}; GStreamer without FEC misses "
                      f"{missing_plain}: the loss did not reach it")
    if missing_fec > dropped // 10:
        raise Failure(f"GStreamer's FEC decoder left {missing_fec} of {dropped} dropped packets "
                      "missing: it did not rebuild audiocast's stream")


def gstreamer_to_client():
    """GStreamer's rtpL16pay (SSRC 0, as its encoder wants) and
    rtpst2022-1-fecenc rows=10 columns=10 through the relay to
    audiocast-client --fec 10x10: the recording is the source bit-exact but
    for what FEC could not rebuild, which the client counts as lost."""
    need("gst-launch-1.0")
    source = harness.noise(RATE, 2, 2, 6.0, seed=43)
    harness.write_wav(tmp("source.wav"), source)
    group, port = DIRECT
    with Children() as children:
        r = relay(children)
        c = children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                            "--group", RELAYED[0], "--port", str(RELAYED[1]), "--fec", "10x10",
                            "--format", "L16", "--rate", "48000", "--channels", "2",
                            "--no-playback", "--latency-ms", "400", "--max-rate-ppm", "0",
                            "--output", tmp("client.wav"), "--stats-json", tmp("client.json"),
                            "--duration", "15"], "client")
        c.wait_for_line(r"listening on", 10)
        sink = ["multicast-iface=lo", "auto-multicast=true", "ttl-mc=1"]
        gst = children.start([
            "gst-launch-1.0", "-q",
            "filesrc", f"location={tmp('source.wav')}", "!", "wavparse",
            "!", "audioconvert", "!", "audio/x-raw,format=S16BE",
            "!", "rtpL16pay", "pt=96", "ssrc=0", "min-ptime=1000000", "max-ptime=1000000",
            "!", "rtpst2022-1-fecenc", "name=enc", "columns=10", "rows=10",
            "!", "udpsink", f"host={group}", f"port={port}", *sink,
            "enc.fec_0", "!", "udpsink", f"host={group}", f"port={port + 2}", "async=false",
            *sink,
            "enc.fec_1", "!", "udpsink", f"host={group}", f"port={port + 4}", "async=false",
            *sink], "gstreamer")
        expect_exit(gst, 0, 20)  # udpsink syncs to the clock: real time
        time.sleep(1.0)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
        counts = stop_relay(r)
    dropped = counts["dropped"]
    stats = harness.read_json(tmp("client.json"))
    f = stats["fec"]
    said = (f"the relay dropped {dropped} of {dropped + counts['forwarded']} media packets and "
            f"{counts['repairs_dropped']} of {counts['repairs_dropped'] + counts['repairs_forwarded']}"
            f" repairs; audiocast-client rebuilt {f['packets_recovered']} from "
            f"{f['repairs_received']} of GStreamer's repair packets and lost "
            f"{stats['packets_lost']}")
    print(said)
    if dropped < 150 or f["repairs_received"] < 1000:
        raise Failure(f"{said}: too little loss or too few repairs for the test to mean anything")
    if f["repairs_malformed"]:
        raise Failure(f"{said}: {f['repairs_malformed']} of GStreamer's repairs were refused")
    if f["packets_recovered"] + stats["packets_lost"] != dropped + stats["packets_duplicate"]:
        raise Failure(f"{said}: rebuilt and lost do not add up to what was dropped: {stats}")
    if stats["packets_lost"] > dropped // 10:
        raise Failure(f"{said}: FEC left more than a tenth of the loss")
    got = harness.read_wav(tmp("client.wav"))
    lead = harness.leading_silence(got)
    body = harness.Sound(got.rate, got.channels, got.width,
                         got.data[lead * got.frame_bytes:(lead + source.frames) * got.frame_bytes])
    harness.expect_same_audio_across_slips(body, source, "the client's recording", 0,
                                           stats["packets_lost"], PACKET, FADE)


def sdp_to_ffmpeg_and_client():
    """audiocast-server --fec --sdp declares the repair flows (a=group:FEC-FR,
    an m= section each). ffmpeg, which knows no SMPTE 2022-1, reads the same
    SDP and records the media bit-exact, passing the repair sections over;
    audiocast-client --sdp, without --fec, joins the repair flows the SDP
    declares. ffmpeg waits for a BYE on every stream the SDP lists and the
    repair flows send none, so it is stopped once it has written the source;
    it writes nothing until it has given up on the repair streams' codec
    (its analyzeduration, 5 s)."""
    need("ffmpeg")
    source = harness.noise(RATE, 2, 2, 3.0, seed=43)
    harness.write_wav(tmp("source.wav"), source)
    group, port = DIRECT
    serve = [os.path.join(BIN, "audiocast-server"), "--interface", "lo", "--group", group,
             "--port", str(port), "--ptime-ms", "1", "--fec", "10x10", "--file",
             tmp("source.wav"), "--quiet"]
    with Children() as children:
        expect_exit(children.start(serve + ["--sdp", tmp("fec.sdp"), "--duration", "0.001"],
                                   "writer"), 0, 10)
        with open(tmp("fec.sdp"), encoding="utf-8") as f:
            sdp = f.read()
        print(sdp)
        for want in ("a=group:FEC-FR 1 2 3", f"m=audio {port + 2} ", f"m=audio {port + 4} ",
                     "2dparityfec/48000", "a=fmtp:96 L=10; D=10; repair-window=210000"):
            if want not in sdp:
                raise Failure(f"the --fec server's SDP does not say '{want}':\n{sdp}")
        ffmpeg = children.start(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
                                 "-y", "-protocol_whitelist", "file,udp,rtp",
                                 "-i", tmp("fec.sdp"), "-c:a", "pcm_s16le", "-f", "s16le",
                                 tmp("ffmpeg.raw")], "ffmpeg")
        client = children.start([os.path.join(BIN, "audiocast-client"), "--interface", "lo",
                                 "--sdp", tmp("fec.sdp"), "--no-playback", "--latency-ms", "300",
                                 "--max-rate-ppm", "0", "--output", tmp("client.wav"),
                                 "--stats-json", tmp("client.json"), "--duration", "20"],
                                "client")
        client.wait_for_line(r"listening on", 10)
        for p in (port, port + 2, port + 4):
            wait_until_bound(p)
        server = children.start(serve, "server")
        expect_exit(server, 0, 20)
        client.wait_for_line(r"said BYE", 10)
        client.proc.send_signal(signal.SIGINT)
        expect_exit(client, 0, 10)
        # ffmpeg looks for the repair streams' codec for its whole
        # analyzeduration (5 s) before it writes: wait for the whole source.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
                not os.path.exists(tmp("ffmpeg.raw"))
                or os.path.getsize(tmp("ffmpeg.raw")) < len(source.data)):
            time.sleep(0.2)
        time.sleep(0.5)
        ffmpeg.proc.send_signal(signal.SIGTERM)
        ffmpeg.proc.wait(10)
    slipped = harness.server_slipped_frames(server)
    with open(tmp("ffmpeg.raw"), "rb") as f:
        got = harness.Sound(RATE, 2, 2, f.read())
    harness.expect_starts_after_silence(got, source, "ffmpeg's recording", slipped)
    harness.expect_starts_after_silence(harness.read_wav(tmp("client.wav")), source,
                                        "the client's recording", slipped)
    stats = harness.read_json(tmp("client.json"))
    fec = stats.get("fec")
    packets = source.frames // PACKET
    if not fec or fec["repairs_received"] < packets // 5 - 10:
        raise Failure(f"audiocast-client --sdp did not join the repair flows the SDP declares "
                      f"({packets} packets, so {packets // 5} repairs): {fec}")
    print(f"ffmpeg recorded the media bit-exact beside the repair sections; audiocast-client "
          f"--sdp received {fec['repairs_received']} repairs for {packets} packets")


CASES = {
    "fec_server_to_gstreamer": server_to_gstreamer,
    "fec_gstreamer_to_client": gstreamer_to_client,
    "fec_sdp_to_ffmpeg_and_client": sdp_to_ffmpeg_and_client,
}


def set_up(bin_dir, tmp_dir):
    global BIN
    BIN = bin_dir
    interop.set_up(bin_dir, tmp_dir)


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "interop", set_up))
