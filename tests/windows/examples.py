#!/usr/bin/env python3
"""The Windows build of audiocast-server and audiocast-client (MinGW-w64, run
under wine) against the Linux build, both ways, on lo inside a private network
namespace: what one sends the other records bit-exact.

    tests/network/netns-run python3 tests/windows/examples.py \
        --bin-dir build/windows-cross/examples --linux-bin-dir build/dev/examples CASE

Wine's sockets are the Linux kernel's, so nothing leaves the namespace. The
Windows build has no libsndfile, RtAudio, libopus or libsrtp2 (none is
packaged for MinGW-w64 in Debian): it reads and writes WAV itself
(examples/support/wav_file.hpp) and plays through no device. Exit 0: passed;
1: failed; 77: skipped, with the reason (no wine, no namespace, no Linux build).
"""

import math
import os
import re
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

WINE_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine-run")
WINDOWS_BIN = ""
LINUX_BIN = ""
TMP = ""
# Wine starts a program in about a second, and its timers are coarser than
# Linux's: the listeners keep more latency than the e2e tests' 100 ms.
LATENCY_MS = "300"


def tmp(name):
    return os.path.join(TMP, name)


def windows(program, *args):
    return ["sh", WINE_RUN, os.path.join(WINDOWS_BIN, f"audiocast-{program}.exe"),
            "--interface", "lo", *args]


def linux(program, *args):
    return [os.path.join(LINUX_BIN, f"audiocast-{program}"), "--interface", "lo", *args]


def format_args(rate, channels, width):
    return ["--format", "L24" if width == 3 else "L16", "--rate", str(rate),
            "--channels", str(channels)]


def client_args(sound, seconds, name):
    # Sample by sample: playout must not resample to follow clock drift.
    return [*format_args(sound.rate, sound.channels, sound.width), "--duration", str(seconds),
            "--latency-ms", LATENCY_MS, "--max-rate-ppm", "0", "--no-playback",
            "--output", tmp(f"{name}.wav"), "--stats-json", tmp(f"{name}.json")]


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def tone(hz, rate, channels, width, seconds):
    """audiocast-server's --tone as its PCM codec puts it on the wire: a
    double-precision phase, -12 dBFS, cast to float, scaled by 2^15 or 2^23
    and rounded half away from zero (examples/support/sources.hpp,
    include/audiocast/detail/pcm_kernels.hpp)."""
    scale = float(1 << (8 * width - 1))
    step = 2.0 * math.pi * hz / rate
    phase = 0.0
    out = bytearray()
    for _ in range(int(seconds * rate)):
        y = float32(0.25 * math.sin(phase)) * scale
        v = int(math.floor(abs(y) + 0.5)) * (1 if y >= 0 else -1)
        v = max(-int(scale), min(int(scale) - 1, v))
        out += v.to_bytes(width, "little", signed=True) * channels
        phase += step
        if phase >= 2.0 * math.pi:
            phase -= 2.0 * math.pi
    return harness.Sound(rate, channels, width, bytes(out))


def expect_clean(stats, what, slipped):
    for field in ("packets_lost", "packets_late", "packets_malformed", "frames_not_recorded"):
        if stats[field] != 0:
            raise Failure(f"{what}: {field} is {stats[field]}, expected 0: {stats}")
    if stats["packets_received"] == 0:
        raise Failure(f"{what}: received nothing")
    if stats["concealed_frames"] > slipped:
        raise Failure(f"{what}: concealed {stats['concealed_frames']} frames; the server "
                      f"skipped {slipped}: {stats}")


def frames_sent(server, packet_frames):
    """What the server's last line says it sent, in frames."""
    for line in reversed(server.lines):
        m = re.search(r"sent (\d+) packets", line)
        if m:
            return int(m.group(1)) * packet_frames
    raise Failure(f"the server did not say what it sent\n{server.transcript()}")


def stream(server, client, source, what, server_args, client_seconds, packet_frames=None):
    """Starts `client` (a command maker) recording, then `server`; checks the
    recording holds `source` bit-exact after its leading silence. With
    `packet_frames`, `source` is cut to the packets the server says it sent
    (--duration ends a tone after a number of packets the timer decides)."""
    with Children() as children:
        c = children.start(client("client", *client_args(source, client_seconds, "got")),
                           "client")
        c.wait_for_line(r"listening on", 30)
        s = children.start(server("server", *server_args), "server")
        expect_exit(s, 0, 60)
        expect_exit(c, 0, 60)
    if packet_frames:
        # The source's first frame is already left out (see the tone case).
        frames = frames_sent(s, packet_frames) - 1
        source = harness.Sound(source.rate, source.channels, source.width,
                               source.data[:frames * source.frame_bytes])
    slipped = harness.server_slipped_frames(s)
    got = harness.read_wav(tmp("got.wav"))
    stats = harness.read_json(tmp("got.json"))
    try:
        expect_clean(stats, what, slipped)
        lead = harness.expect_starts_after_silence(got, source, what, slipped_frames=slipped)
    except Failure as e:
        raise Failure(f"{e}\nserver slipped {slipped} frames\n{s.transcript()}\n"
                      f"{c.transcript()}") from None
    print(f"{what}: {got.frames} frames, the source's {source.frames} bit-exact after {lead} "
          f"frames of silence; {stats['packets_received']} packets, latency p99 "
          f"{stats['latency_ms']['p99']:.3f} ms; the server slipped {slipped} frames")


# ---- cases -----------------------------------------------------------------

def windows_server_tone_to_linux_client():
    """audiocast-server.exe --tone, stopped by --duration, to the Linux
    client: the tone as the server computes it, sample for sample."""
    seconds = 2.0
    # The tone's first frame is sin(0) = 0, which a recording cannot tell
    # from the silence before the stream: the reference starts at the second.
    # It is longer than the stream, and cut to what the server sent.
    whole = tone(997, 48000, 2, 2, seconds + 1)
    reference = harness.Sound(whole.rate, whole.channels, whole.width,
                              whole.data[whole.frame_bytes:])
    stream(windows, linux, reference, "the Linux client's WAV of the Windows server's tone",
           ["--tone", "997", *format_args(48000, 2, 2), "--duration", str(seconds)],
           client_seconds=seconds + 4, packet_frames=240)


def windows_server_file_to_linux_client():
    """audiocast-server.exe --file reads a 24-bit mono WAV at 44.1 kHz with
    its own WAV reader; the Linux client records it bit-exact."""
    source = harness.noise(44100, 1, 3, 1.5, seed=44)
    harness.write_wav(tmp("source.wav"), source)
    stream(windows, linux, source, "the Linux client's WAV of the Windows server's file",
           ["--file", tmp("source.wav")], client_seconds=5.5)


def linux_server_file_to_windows_client():
    """The Linux server streams a 16-bit stereo WAV; audiocast-client.exe
    records it with its own WAV writer, bit-exact."""
    source = harness.noise(48000, 2, 2, 1.5, seed=48)
    harness.write_wav(tmp("source.wav"), source)
    stream(linux, windows, source, "the Windows client's WAV of the Linux server's file",
           ["--file", tmp("source.wav")], client_seconds=5.5)


def windows_server_console_pause_and_play():
    """PAUSE, STATUS and PLAY typed into audiocast-server.exe's console (a
    pipe, which the Windows console reader peeks): the Linux client hears
    the file bit-exact around one pause of about 2 s."""
    source = harness.noise(48000, 2, 2, 3.0, seed=49)
    harness.write_wav(tmp("source.wav"), source)
    with Children() as children:
        c = children.start(linux("client", *client_args(source, 16.0, "got")), "client")
        c.wait_for_line(r"listening on", 30)
        s = children.start(windows("server", "--file", tmp("source.wav")), "server",
                           stdin=subprocess.PIPE)
        s.wait_for_line(r"console: PLAY, PAUSE", 30)
        time.sleep(1.0)
        s.wait_for_line(r"^PAUSED at", 5, after=s.send("pause\n"))
        s.wait_for_line(r"^paused at .* sent \d+ packets", 5, after=s.send("STATUS\n"))
        time.sleep(2.0)
        s.wait_for_line(r"^PLAYING from", 5, after=s.send("PLAY\n"))
        expect_exit(s, 0, 30)
        expect_exit(c, 0, 30)
    slipped = harness.server_slipped_frames(s)
    got = harness.read_wav(tmp("got.wav"))
    harness.expect_same_audio_across_slips(harness.without_silence(got), source,
                                           "the Linux client's WAV without its silence", slipped)
    inner = harness.pauses_besides_slips(got, slipped)
    if len(inner) != 1 or not 1.8 <= got.seconds(inner[0]) <= 2.8:
        raise Failure(f"expected one pause of about 2 s inside the audio, found silent runs of "
                      f"{[round(got.seconds(n), 3) for n in inner]} s besides {slipped} frames "
                      f"the server said it skipped\n{s.transcript()}")
    print(f"the source bit-exact around a pause of {got.seconds(inner[0]):.3f} s")


def yes_status_into_the_windows_console():
    """`yes STATUS | audiocast-server.exe` with an output nobody reads: the
    console reader takes lines no faster than they are handled, the replies
    that cannot be written are dropped, the server ends on time (its blocked
    write cancelled) and the Linux client hears every packet."""
    source = harness.noise(48000, 2, 2, 2.0, seed=50)
    harness.write_wav(tmp("source.wav"), source)
    yes = subprocess.Popen(["yes", "STATUS"], stdout=subprocess.PIPE)
    unread_r, unread_w = os.pipe()  # the server's stdout: nobody reads it
    try:
        with Children() as children:
            c = children.start(linux("client", *client_args(source, 6.0, "got")), "client")
            c.wait_for_line(r"listening on", 30)
            s = children.start(windows("server", "--file", tmp("source.wav")), "server",
                               stdin=yes.stdout, stdout_file=unread_w)
            expect_exit(s, 0, 30)
            expect_exit(c, 0, 30)
    finally:
        yes.kill()
        yes.wait(5)
        os.close(unread_r)
        os.close(unread_w)
    slipped = harness.server_slipped_frames(s)
    got = harness.read_wav(tmp("got.wav"))
    stats = harness.read_json(tmp("got.json"))
    try:
        expect_clean(stats, "the Linux client", slipped)
        harness.expect_starts_after_silence(got, source, "the Linux client's WAV",
                                            slipped_frames=slipped)
    except Failure as e:
        raise Failure(f"{e}\n{s.transcript()}") from None
    print(f"yes STATUS: {stats['packets_received']} packets, none lost; latency p99 "
          f"{stats['latency_ms']['p99']:.3f} ms")


def linux_server_sdp_to_windows_client():
    """audiocast-client.exe --sdp reads the Linux server's SDP file (the
    format, the group and the port from it) and records bit-exact."""
    source = harness.noise(44100, 1, 3, 1.5, seed=51)
    harness.write_wav(tmp("source.wav"), source)
    with Children() as children:
        s = children.start(linux("server", "--file", tmp("source.wav"), "--sdp",
                                 tmp("stream.sdp"), "--duration", "30", "--loop"), "server",
                           stdin=subprocess.PIPE)
        s.wait_for_line(r"console: PLAY, PAUSE", 10)
        s.send("PAUSE\n")
        s.wait_for_line(r"^PAUSED at", 5)
        c = children.start(windows("client", "--sdp", tmp("stream.sdp"), "--duration", "5",
                                   "--latency-ms", LATENCY_MS, "--max-rate-ppm", "0",
                                   "--no-playback", "--output", tmp("got.wav"),
                                   "--stats-json", tmp("got.json")), "client")
        c.wait_for_line(r"listening on", 30)
        s.send("PLAY\n")
        expect_exit(c, 0, 30)
        s.send("QUIT\n")
        expect_exit(s, 0, 30)
    got = harness.read_wav(tmp("got.wav"))
    if (got.rate, got.channels, got.width) != (44100, 1, 3):
        raise Failure(f"the client took {got.rate} Hz, {got.channels} ch, {8 * got.width} bit "
                      f"from the SDP; expected 44100 Hz, 1 ch, 24 bit\n{c.transcript()}")
    # It loops: the recording is the source again and again from where it joined.
    body = harness.without_silence(got)
    at = harness.start_in_source(body, 0, source)
    if at is None:
        raise Failure(f"the Windows client's recording is not the source\n{s.transcript()}\n"
                      f"{c.transcript()}")
    looped = harness.Sound(source.rate, source.channels, source.width,
                           (source.data[at * source.frame_bytes:] + source.data * 4)
                           [:body.frames * source.frame_bytes])
    harness.expect_same_audio_across_slips(body, looped, "the Windows client's WAV",
                                           harness.server_slipped_frames(s))
    print(f"the Windows client took L24/44100/1 from the SDP; {body.frames} frames bit-exact")


def windows_build_says_what_it_lacks():
    """The Windows build names the libraries it was built without, and
    refuses what needs them with the reason instead of failing strangely."""
    with Children() as children:
        v = children.start(windows("server", "--version"), "version")
        expect_exit(v, 0, 60)
        text = "\n".join(v.lines)
        for lacking in ("the Opus codec (libopus)", "SRTP (libsrtp2)", "audio devices (RtAudio)"):
            if lacking not in text:
                raise Failure(f"--version does not say the build lacks {lacking}:\n{text}")
        refusals = [
            (windows("client"), r"plays through no audio device .*--no-playback"),
            (windows("server", "--capture"), r"--capture needs audio devices.*RtAudio"),
            (windows("server", "--codec", "opus", "--rate", "48000"),
             r"needs the Opus codec.*libopus"),
            (windows("server", "--srtp"), r"--srtp needs SRTP.*libsrtp2"),
        ]
        # SDP files that name what the build lacks, from the Linux server
        # (which has it all); the Windows client refuses each, saying why.
        for name, extra in (("srtp.sdp", ["--srtp"]),
                            ("opus.sdp", ["--codec", "opus", "--rate", "48000"])):
            maker = children.start(linux("server", "--tone", "440", "--duration", "0.05",
                                         "--sdp", tmp(name), *extra), f"sdp-{name}")
            expect_exit(maker, 0, 30)
        refusals += [
            (windows("client", "--no-playback", "--sdp", tmp("srtp.sdp")),
             r"needs SRTP, and this build has none.*libsrtp2"),
            (windows("client", "--no-playback", "--sdp", tmp("opus.sdp")),
             r"needs the Opus codec.*libopus"),
        ]
        for i, (args, pattern) in enumerate(refusals):
            p = children.start(args, f"refused{i}")
            # A command line is refused with 2; what an SDP file holds, with 1 or 2.
            rc = p.wait(60)
            if rc not in ((1, 2) if "--sdp" in args else (2,)):
                raise Failure(f"{' '.join(args[2:])}: exit {rc}\n{p.transcript()}")
            said = "\n".join(p.lines + p.stderr_lines)
            if not re.search(pattern, said):
                raise Failure(f"{' '.join(args[2:])}: expected /{pattern}/, got:\n{said}")
            print(f"{os.path.basename(args[2])} {' '.join(args[3:])}: {said.strip()}")
    print(f"--version: {text}")


CASES = {f.__name__: f for f in (
    windows_server_tone_to_linux_client,
    windows_server_file_to_linux_client,
    linux_server_file_to_windows_client,
    windows_server_console_pause_and_play,
    yes_status_into_the_windows_console,
    linux_server_sdp_to_windows_client,
    windows_build_says_what_it_lacks,
)}


def set_up(bin_dir, tmp_dir):
    global WINDOWS_BIN, LINUX_BIN, TMP
    WINDOWS_BIN, TMP = bin_dir, tmp_dir
    LINUX_BIN = os.environ.get("AUDIOCAST_LINUX_EXAMPLES", "")
    for program in ("server", "client"):
        if not os.access(os.path.join(WINDOWS_BIN, f"audiocast-{program}.exe"), os.R_OK):
            harness.skip(f"no audiocast-{program}.exe in {WINDOWS_BIN}")
        if not os.access(os.path.join(LINUX_BIN, f"audiocast-{program}"), os.X_OK):
            harness.skip(f"no Linux audiocast-{program} in '{LINUX_BIN}' (build the dev preset "
                         f"first, or set AUDIOCAST_LINUX_EXAMPLES)")


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "windows", set_up))
