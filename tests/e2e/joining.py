#!/usr/bin/env python3
"""End-to-end tests of a listener who joins a stream that is already running,
through a real output device (a private PulseAudio's null sink), inside a
private network namespace.

    tests/network/netns-run python3 tests/e2e/joining.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402


def find_segment(sound, source, first_frame):
    """The source frame at which `sound`, from `first_frame` on, starts to
    match the source; None when no source frame matches."""
    probe = sound.frame(first_frame) + sound.frame(first_frame + 1)
    at = source.data.find(probe)
    while at >= 0 and at % source.frame_bytes:
        at = source.data.find(probe, at + 1)
    return None if at < 0 else at // source.frame_bytes


def expect_clean_segment(sound, source, what):
    """`sound` is silence, then source frames from some frame k on, in order
    with nothing missing, repeated or garbled, then silence at most. Returns
    (lead, k, frames)."""
    lead = harness.leading_silence(sound)
    if lead >= sound.frames:
        raise Failure(f"{what}: nothing audible")
    k = find_segment(sound, source, lead)
    if k is None:
        raise Failure(f"{what}: its first audible frame ({lead}) is not in the source")
    n = min(sound.frames - lead, source.frames - k)
    body = sound.data[lead * sound.frame_bytes:(lead + n) * sound.frame_bytes]
    want = source.data[k * source.frame_bytes:(k + n) * source.frame_bytes]
    if body != want:
        first = next(i for i in range(n) if sound.frame(lead + i) != source.frame(k + i))
        # Silence at the end of the recording is the end of the run, not a gap.
        rest = sound.data[(lead + first) * sound.frame_bytes:]
        if rest.strip(b"\0"):
            raise Failure(f"{what}: from source frame {k} on, differs {first} frames in "
                          f"({source.seconds(first):.3f} s)")
        n = first
    return lead, k, n


def late_listener_through_a_real_device():
    """The server streams first; a client joins 2 s later and plays through
    PulseAudio. Its first audible frame must be clean and live: within the
    playout latency (plus the device's) of what the server was sending when
    the client joined, not a backlog queued while the client was starting."""
    source = harness.noise(48000, 2, 2, 6.0, seed=17)
    harness.write_wav(e2e.tmp("source.wav"), source)
    with Children() as children:
        env = e2e.start_pulseaudio(children)
        with open(e2e.tmp("monitor.raw"), "wb") as raw:
            recorder = children.start(
                ["parec", "--device=audiocast_test.monitor", "--format=s16le", "--rate=48000",
                 "--channels=2", "--raw", "--latency-msec=20"], "parec", env=env,
                stdout_file=raw)
            server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server")
            server.wait_for_line(r"streaming", 10)
            server_started = time.monotonic()
            time.sleep(2.0)
            client_started = time.monotonic()
            [client] = e2e.start_clients(children, 1, source, seconds=3.0, playback=True,
                                         env=env, latency_ms=None)
            expect_exit(client, 0, 15)
            expect_exit(server, 0, 15)
            time.sleep(0.3)
            recorder.end()
    stats = harness.read_json(e2e.tmp("client0.json"))
    played = harness.read_wav(e2e.tmp("client0.wav"))
    try:
        lead, k, n = expect_clean_segment(played, source, "the client's WAV")
    except Failure as f:
        # The fresh-clone run of 12960ff failed here once, 2.34 s in, with no
        # more said: say whether the server slipped and what the client saw.
        raise Failure(f"{f}; the server slipped {harness.server_slipped_frames(server)} frames "
                      f"({server.stderr_lines}); {stats}") from None
    with open(e2e.tmp("monitor.raw"), "rb") as raw:
        recorded = harness.Sound(48000, 2, 2, raw.read())
    _, k_device, n_device = expect_clean_segment(recorded, source, "the null sink's monitor")
    if k_device != k:
        raise Failure(f"the device played from source frame {k_device}, the client's WAV "
                      f"from {k}")
    for field, want in (("resyncs", 0), ("packets_late", 0), ("underruns", 0),
                        ("concealed_frames", 0), ("packets_lost", 0), ("frames_discarded", 0)):
        if stats.get(field) != want:
            raise Failure(f"{field} is {stats.get(field)}, expected {want}: {stats}")
    # Live: the frame the server sent when the client started is at most the
    # client's start-up (device warm-up included) and its playout latency
    # behind the first one played. A backlog played late starts further back.
    behind = (client_started - server_started) - source.seconds(k)
    budget = 1.0 + stats["latency_target_ms"] / 1000
    if behind > budget:
        raise Failure(f"the first audible frame ({k}) was sent {behind:.3f} s before the client "
                      f"started: a backlog, not the live stream (budget {budget:.3f} s)")
    if stats["latency_ms"]["p99"] > 50:
        raise Failure(f"latency p99 {stats['latency_ms']['p99']:.3f} ms: packets were dated "
                      f"when read, not when they arrived: {stats}")
    print(f"joined {client_started - server_started:.3f} s into the stream; first audible "
          f"frame {k} ({source.seconds(k):.3f} s), {n} frames clean in the WAV, {n_device} "
          f"through the device; latency p99 {stats['latency_ms']['p99']:.3f} ms, "
          f"playout latency {stats['latency_target_ms']} ms")


CASES = {
    "late_listener_through_a_real_device": late_listener_through_a_real_device,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "joining", e2e.set_up))
