#!/usr/bin/env python3
"""SRTP between audiocast and real third-party tools, both ways, bit for bit:
ffmpeg reads audiocast-server's SDP (its a=crypto) and GStreamer's srtpdec
takes its key in caps; ffmpeg's srtp:// output and GStreamer's srtpenc send
to audiocast-client. The suite is AES_CM_128_HMAC_SHA1_80, the one all three
speak (ffmpeg has no AEAD_AES_128_GCM); GStreamer also with GCM.

    tests/network/netns-run python3 tests/interop/interop_srtp.py --bin-dir DIR CASE

Exit 0 passed, 1 failed, 77 skipped with the reason (a tool that is not
installed).
"""

import base64
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
import interop  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

GROUP, PORT = interop.GROUP, interop.PORT
# RFC 3711 B.2's master key and salt (30 bytes), and a 28-byte GCM key.
KEY = "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"
GCM_KEY = base64.b64encode(bytes(range(1, 29))).decode()


def tmp(name):
    return interop.tmp(name)


def key_file(text=KEY):
    path = tmp("stream.key")
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def need_srtp_elements():
    interop.need("gst-launch-1.0")
    for element in ("srtpenc", "srtpdec"):
        r = subprocess.run(["gst-inspect-1.0", element], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            harness.skip(f"GStreamer's {element} is not installed (Debian: "
                         "gstreamer1.0-plugins-bad; scripts/setup installs it)")


def server_to_ffmpeg():
    """ffmpeg plays audiocast-server's SRTP stream from the SDP alone: the
    key travels in a=crypto."""
    interop.need("ffmpeg")
    source = interop.source_for("l16_48k_stereo")
    key = key_file()
    with Children() as children:
        writer = interop.server(children, "--srtp", "--key-file", key, "--file",
                                tmp("source.wav"), "--sdp", tmp("stream.sdp"), "--duration",
                                "0.001", "--quiet")
        expect_exit(writer, 0, 10)
        with open(tmp("stream.sdp")) as f:
            sdp = f.read()
        if f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}" not in sdp:
            raise Failure(f"the SDP does not carry the key:\n{sdp}")
        ffmpeg = children.start(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
                                 "-y", "-protocol_whitelist", "file,udp,rtp,srtp",
                                 "-i", tmp("stream.sdp"), "-c:a", "pcm_s16le", "-f", "s16le",
                                 tmp("ffmpeg.raw")], "ffmpeg")
        interop.wait_until_bound(PORT)
        expect_exit(interop.server(children, "--srtp", "--key-file", key, "--file",
                                   tmp("source.wav"), "--quiet"), 0, 15)
        expect_exit(ffmpeg, 0, 15)  # at the server's BYE, which is SRTCP
    with open(tmp("ffmpeg.raw"), "rb") as f:
        got = harness.Sound(source.rate, source.channels, source.width, f.read())
    interop.check_received(got, source, "ffmpeg's output")


def server_to_gstreamer(suite="AES_CM_128_HMAC_SHA1_80", key_text=KEY):
    """GStreamer's srtpdec, given the key in its caps, plays audiocast-server's
    SRTP stream bit-exact."""
    need_srtp_elements()
    source = interop.source_for("l16_48k_stereo")
    key = key_file(key_text)
    gcm = suite == "AEAD_AES_128_GCM"
    cipher, auth = ("aes-128-gcm", "null") if gcm else ("aes-128-icm", "hmac-sha1-80")
    hex_key = base64.b64decode(key_text).hex()
    # srtpdec takes a stream's key from caps that name its SSRC (gst-launch
    # cannot answer its request-key signal): the server is given one.
    ssrc = 0x5EC0DE
    caps = ("application/x-srtp,media=audio,clock-rate=48000,encoding-name=L16,channels=2,"
            f"payload=96,ssrc=(uint){ssrc},srtp-key=(buffer){hex_key},srtp-cipher={cipher},srtp-auth={auth},"
            f"srtcp-cipher={cipher},srtcp-auth={auth}")
    with Children() as children:
        gst = children.start([
            "gst-launch-1.0", "-e", "-q",
            "udpsrc", f"address={GROUP}", f"port={PORT}", "multicast-iface=lo", f"caps={caps}",
            "!", "srtpdec", "!", "rtpjitterbuffer", "latency=100",
            "!", "rtpL16depay", "!", "audioconvert", "!", "wavenc",
            "!", "filesink", f"location={tmp('gst.wav')}"], "gstreamer")
        interop.wait_until_bound(PORT)
        expect_exit(interop.server(children, "--srtp", "--srtp-suite", suite, "--key-file", key,
                                   "--ssrc", str(ssrc), "--file", tmp("source.wav"), "--quiet"),
                    0, 15)
        time.sleep(0.5)  # past the jitter buffer
        gst.proc.send_signal(signal.SIGINT)
        expect_exit(gst, 0, 10)
    interop.check_received(harness.read_wav(tmp("gst.wav")), source,
                           f"GStreamer's WAV ({suite})")


def ffmpeg_to_client():
    """ffmpeg sends SRTP (srtp://, with SRTCP sender reports); the client,
    given ffmpeg's own SDP (its a=crypto), plays it bit-exact."""
    interop.need("ffmpeg")
    source = interop.source_for("l16_48k_stereo")
    url = f"srtp://{GROUP}:{PORT}?ttl=1&localaddr=127.0.0.1"
    ffmpeg_args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
                   "-i", tmp("source.wav"), "-c:a", "pcm_s16be", "-f", "rtp",
                   "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", KEY,
                   "-sdp_file", tmp("ffmpeg.sdp"), url]
    with Children() as children:
        dry = children.start(ffmpeg_args[:-1] + ["-t", "0.01", url], "ffmpeg (SDP)")
        expect_exit(dry, 0, 15)
        with open(tmp("ffmpeg.sdp")) as f:
            sdp = f.read()
        if "a=crypto" not in sdp:
            raise Failure(f"ffmpeg's SDP carries no a=crypto:\n{sdp}")
        c = interop.client(children, "--sdp", tmp("ffmpeg.sdp"), "--duration", "12")
        c.wait_for_line(r"listening on", 10)
        expect_exit(children.start(ffmpeg_args, "ffmpeg"), 0, 15)
        c.wait_for_line(r"no packets for \d+ s and no BYE", 6)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    stats = interop.check_client(source)
    s = stats.get("srtp")
    if not s or s["unauthenticated"] + s["replayed"] + s["malformed"] != 0:
        raise Failure(f"the client refused packets of ffmpeg's stream, or did not use SRTP: {s}")
    if stats["latency_source"] != "sender reports":
        raise Failure(f"latency was measured from {stats['latency_source']}: ffmpeg's SRTCP "
                      f"sender reports were not read")
    print(f"ffmpeg's SRTCP sender reports read: latency p50 {stats['latency_ms']['p50']:.3f} ms")


def gstreamer_to_client(suite="AES_CM_128_HMAC_SHA1_80", key_text=KEY):
    """GStreamer's srtpenc sends; the client with the key plays it bit-exact."""
    need_srtp_elements()
    source = interop.source_for("l16_48k_stereo")
    key = key_file(key_text)
    gcm = suite == "AEAD_AES_128_GCM"
    cipher, auth = ("aes-128-gcm", "null") if gcm else ("aes-128-icm", "hmac-sha1-80")
    with Children() as children:
        c = interop.client(children, "--srtp", "--srtp-suite", suite, "--key-file", key,
                           "--format", "L16", "--rate", "48000", "--channels", "2",
                           "--duration", "6")
        c.wait_for_line(r"listening on", 10)
        gst = children.start([
            "gst-launch-1.0", "-q",
            "filesrc", f"location={tmp('source.wav')}", "!", "wavparse",
            "!", "audioconvert", "!", "audio/x-raw,format=S16BE", "!", "rtpL16pay",
            "!", "srtpenc", f"key={base64.b64decode(key_text).hex()}", f"rtp-cipher={cipher}",
            f"rtp-auth={auth}", f"rtcp-cipher={cipher}", f"rtcp-auth={auth}",
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"], "gstreamer")
        expect_exit(gst, 0, 15)
        time.sleep(0.5)
        c.proc.send_signal(signal.SIGINT)
        expect_exit(c, 0, 10)
    stats = interop.check_client(source)
    s = stats.get("srtp")
    if not s or s["unauthenticated"] + s["replayed"] + s["malformed"] != 0:
        raise Failure(f"the client refused packets of GStreamer's stream: {s}")


def gstreamer_late_joiner():
    """The client joins GStreamer's SRTP stream after its sequence numbers
    wrapped (the rollover counter is 1 and is never on the wire): it finds the
    counter and plays the rest of the stream bit-exact from its second packet."""
    need_srtp_elements()
    source = interop.source_for("l16_48k_stereo", seconds=8.0)
    key = key_file()
    with Children() as children:
        # 5 ms packets from number 65,300: the wrap comes 1.2 s in.
        gst = children.start([
            "gst-launch-1.0", "-q",
            "filesrc", f"location={tmp('source.wav')}", "!", "wavparse",
            "!", "audioconvert", "!", "audio/x-raw,format=S16BE", "!", "rtpL16pay",
            "seqnum-offset=65300", "min-ptime=5000000", "max-ptime=5000000",
            "!", "srtpenc", f"key={base64.b64decode(KEY).hex()}",
            "!", "udpsink", f"host={GROUP}", f"port={PORT}", "multicast-iface=lo",
            "auto-multicast=true", "ttl-mc=1"], "gstreamer")
        time.sleep(2.5)
        c = interop.client(children, "--srtp", "--key-file", key, "--format", "L16", "--rate",
                           "48000", "--channels", "2", "--duration", "4")
        expect_exit(c, 0, 15)
        expect_exit(gst, 0, 15)
    stats = harness.read_json(tmp("client.json"))
    s = stats.get("srtp")
    if not s or s["rollovers_found"] != 1:
        raise Failure(f"the client did not find the stream's rollover counter: {s}")
    if s["unauthenticated"] > 1 or s["replayed"] or s["malformed"]:
        raise Failure(f"the client refused more than the stream's first packet: {s}")
    if stats["packets_lost"] or stats["packets_late"] or stats["concealed_frames"]:
        raise Failure(f"the client lost audio after it joined: {stats}")
    got = harness.read_wav(tmp("client.wav"))
    silent = len(got.data) - len(got.data.lstrip(b"\0"))
    g = got.data[silent - silent % 4:]
    start = source.data.find(g[:4 * 240])
    if len(g) < 4 * 48000 or start < 0:
        raise Failure(f"the client's {got.frames} frames hold no second of the source")
    if source.data[start:start + len(g)] != g:
        raise Failure("the client's recording departs from the source after it joined")
    print(f"joined at source frame {start // 4} (after the wrap at about 56,640): "
          f"{len(g) // 4} frames bit-exact; ROC found in {s['rollover_trials']} trials")


CASES = {
    "srtp_server_to_ffmpeg": server_to_ffmpeg,
    "srtp_server_to_gstreamer": server_to_gstreamer,
    "srtp_server_to_gstreamer_gcm": lambda: server_to_gstreamer("AEAD_AES_128_GCM", GCM_KEY),
    "srtp_ffmpeg_to_client": ffmpeg_to_client,
    "srtp_gstreamer_to_client": gstreamer_to_client,
    "srtp_gstreamer_to_client_gcm": lambda: gstreamer_to_client("AEAD_AES_128_GCM", GCM_KEY),
    "srtp_gstreamer_late_joiner": gstreamer_late_joiner,
}


def set_up(bin_dir, tmp_dir):
    interop.set_up(bin_dir, tmp_dir)


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "interop", set_up))
