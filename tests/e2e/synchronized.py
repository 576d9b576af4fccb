#!/usr/bin/env python3
"""End-to-end tests of synchronized playout (audiocast-client --sync): real
processes, real multicast on lo inside a private network namespace, and for
the sound, a real PulseAudio whose null sink mixes every listener.

    tests/network/netns-run python3 tests/e2e/synchronized.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

RATE = 48000
CLICK_EVERY = 4800     # frames: 10 clicks a second
CLICK = 8000           # three copies on one sample still fit 16 bits
ALIGNED = 10           # frames: 0.2 ms at 48 kHz, the most the copies may spread
SETTLE_S = 2.0         # after a listener joins, before its clicks count
RESUMED_S = 2.0        # after a stalled listener resumes, before its clicks count
WATCH_TICK_S = 0.25    # how often audiocast-client looks at its device's underflows
# The asan preset's test environment sets ASAN_OPTIONS (CMakePresets.json).
SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def two_listeners_synchronize():
    """Two clients with --sync, started a second apart, learn the server's
    clock over real sockets (RTCP XR round trips) and hold playout on the
    common timeline (with no device, a timer pulls: no output latency);
    neither loses a packet or underruns meanwhile."""
    with Children() as children:
        server = children.start(e2e.server_cmd("--tone", "440", "--duration", "7"), "server",
                                stdin=subprocess.PIPE)
        server.wait_for_line(r"streaming", 10)
        clients = []
        for i in range(2):
            clients.append(children.start(
                e2e.client_cmd("--sync", "--no-playback", "--latency-ms", "100", "--duration",
                               str(6 - i), "--stats-json", e2e.tmp(f"client{i}.json")),
                f"client{i}"))
            clients[-1].wait_for_line(r"listening on", 10)
            time.sleep(1)
        # STATUS lists each listener: its round trip, and that it asks for
        # the server's clock, with how far its estimate can be off. Round
        # trips come from RTCP receiver reports, seconds apart.
        # Until a listener's first scheduled report has come, there is no
        # round trip to show.
        step = (r"^  .+: (round trip [0-9.]+ ms; in step by our clock \(\d+ questions\), its "
                r"estimate within \+-[0-9.]+ ms|no round trip yet; in step by our clock "
                r"\(\d+ questions\))$")
        deadline = time.monotonic() + 3.5
        while True:
            mark = server.send("STATUS\n")
            server.wait_for_line(r"^playing at", 5, after=mark)
            time.sleep(0.2)
            listed = [l for l in server.lines[mark:] if re.match(step, l)]
            if (len(listed) == 2 and all("round trip" in l for l in listed)
                    or time.monotonic() > deadline):
                break
            time.sleep(0.3)
        if len(listed) != 2:
            raise Failure(f"STATUS does not show both listeners in step: "
                          f"{server.lines[mark:]}")
        print("STATUS:\n" + "\n".join(listed))
        for c in clients:
            expect_exit(c, 0, 15)
        expect_exit(server, 0, 15)
    slips = harness.server_slips(server)
    for i in range(2):
        stats = harness.read_json(e2e.tmp(f"client{i}.json"))
        clock = stats["clock"]
        print(f"client{i}: {clock['exchanges']} round trips, clock +-{clock['uncertainty_us']} us, "
              f"sync error {stats['sync_error_us']} us, {stats['sync_realignments']} realignments")
        # An answer can come for a question the listener has since let go
        # (it keeps the last 64): a few are unmatched, not many.
        if clock["exchanges"] < 50 or clock["answers_unmatched"] > clock["exchanges"] // 10:
            raise Failure(f"client{i}: the sender's clock was not learnt: {clock}")
        if stats["sync_error_us"] is None or abs(stats["sync_error_us"]) > 1000:
            raise Failure(f"client{i}: playout is not on the common timeline: "
                          f"sync error {stats['sync_error_us']} us")
        if stats["packets_lost"] != 0:
            raise Failure(f"client{i}: packets_lost is {stats['packets_lost']}: {stats}")
        # A server the host stopped for longer than the latency (100 ms) runs
        # every listener dry once, through no fault of theirs: one underrun a
        # slip it reported, no more (the CI of dce5929 saw 3 with none shown).
        if stats["underruns"] > slips:
            raise Failure(f"client{i}: underruns is {stats['underruns']}, and the server "
                          f"slipped {slips} times: {server.stderr_lines}; {stats}")


def clicks(seconds):
    """Stereo L16 silence with a single-sample click every CLICK_EVERY frames."""
    frames = int(RATE * seconds)
    data = bytearray(frames * 4)
    one = CLICK.to_bytes(2, "little", signed=True) * 2
    for f in range(CLICK_EVERY // 2, frames, CLICK_EVERY):
        data[f * 4:f * 4 + 4] = one
    return harness.Sound(RATE, 2, 2, bytes(data))


def click_groups(recorded):
    """The recording's clicks: runs of nonzero samples (left channel) no
    more than 50 frames apart, each as (first frame, last frame, how many
    clicks it sums)."""
    left = memoryview(recorded.data).cast("h")[0::2]
    groups = []
    for f, v in enumerate(left):
        if v == 0:
            continue
        if groups and f - groups[-1][1] <= 50:
            first, _, total = groups[-1]
            groups[-1] = (first, f, total + v)
        else:
            groups.append((f, f, v))
    return [(first, last, total / CLICK) for first, last, total in groups]


def across_gap(a, b, windows):
    """Whether a window where a device ran dry begins between frames a and b."""
    return any(a < w <= b for w, _ in windows)


def slipped_between(a, b, windows, slips):
    """Whether clicks heard at frames a and b are apart by a slip of the
    server's schedule: one click and the slip, or, where a device ran dry
    between them and the clicks around the slip were left out, whole clicks
    and the slip."""
    for frames in slips:
        rest = b - a - frames
        clicks = round(rest / CLICK_EVERY)
        if (clicks >= 1 and abs(rest - clicks * CLICK_EVERY) <= ALIGNED and
                (clicks == 1 or across_gap(a, b, windows))):
            return True
    return False


def judge_click_gaps(heard, windows, slips):
    """For the first frames of the clicks heard in order: which gaps a slip
    explains, and the indices of those nothing explains (not one click
    apart, not a slip, not whole clicks across a dry device)."""
    slipped = [slipped_between(a, b, windows, slips) for a, b in zip(heard, heard[1:])]
    odd = [i for i, (a, b) in enumerate(zip(heard, heard[1:]))
           if abs(b - a - CLICK_EVERY) > ALIGNED and not slipped[i] and
           not (across_gap(a, b, windows) and
                abs(b - a - round((b - a) / CLICK_EVERY) * CLICK_EVERY) <= ALIGNED)]
    return slipped, odd


def clicks_in_step(buffers_ms, latency_ms, shared_clock=False, stall_s=0.0, sender_stall_s=0.0):
    """Three --sync clients, started 1.5 s apart while the server streams
    clicks, play into one PulseAudio null sink; its monitor is recorded.
    Each client plays through libpulse with its own device buffer, and tells
    playout, at every write, how long until that write is heard. Once the
    last has joined and settled, every click must be heard once from each
    client, the three copies within ALIGNED frames of each other.

    The sink's three streams share its clock, so rate steering has nothing
    to follow here: it is off (--max-rate-ppm 0), so that each copy of a
    click stays one sample and its position is exact; steering toward the
    common timeline is measured in tests/unit/session_synchronized_playout.cpp.

    `shared_clock`: the server says in its SDP that its clock is one the
    hosts share (--ts-refclk ntp=/traceable/, true of one host) and which
    playout latency to use; the clients are given only that SDP, synchronize
    because it asks, at its latency, by the server's timestamps alone: they
    ask no round trip.

    `stall_s`: once every client has settled, client0 is stopped (SIGSTOP)
    for that long, as a loaded host deschedules a process: its device runs
    dry (an underflow) and PulseAudio starts the stream again when it is
    refilled. From RESUMED_S after it resumes, its clicks must be in step
    again (playout is told of the underflow and places itself again at its
    first pull once PulseAudio has said when the stream plays; with rate
    steering off, it checks that placement once its rate controller's
    one-to-two-second window has settled, and places itself again if it is
    off: the latency PulseAudio reports as a stream starts again has been
    seen 0.36 ms off); those between are not counted.

    `sender_stall_s`: once every client has settled, the server is stopped
    for that long instead. Its schedule slips and its RTP timestamps move on
    with it, so the clicks after it come that much later on every client at
    once: every click stays in step, none is left out, and the server warns
    of the gap. On any run, a slip the server warns of (a loaded host) may
    move the clicks' grid by what it says, never the copies apart."""
    seconds = 14.0 + (6.0 if stall_s or sender_stall_s else 0.0)
    source = clicks(seconds)
    harness.write_wav(e2e.tmp("clicks.wav"), source)
    joins = []
    with Children() as children:
        env = e2e.start_pulseaudio(children)
        with open(e2e.tmp("monitor.raw"), "wb") as raw:
            recorder = children.start(
                ["parec", "--device=audiocast_test.monitor", "--format=s16le", "--rate=48000",
                 "--channels=2", "--raw", "--latency-msec=20"], "parec", env=env,
                stdout_file=raw)
            recording_since = time.monotonic()
            time.sleep(0.3)
            refclk = (["--ts-refclk", "ntp=/traceable/", "--playout-delay-ms", str(latency_ms),
                       "--sdp", e2e.tmp("stream.sdp")] if shared_clock else [])
            server = children.start(e2e.server_cmd("--file", e2e.tmp("clicks.wav"), *refclk),
                                    "server", close_stdin=True)
            server.wait_for_line(r"streaming", 10)
            streaming_since = time.monotonic()
            clients = []
            for i, buffer_ms in enumerate(buffers_ms):
                time.sleep(0.5 if i == 0 else 1.5)
                remaining = seconds - (time.monotonic() - streaming_since) + 1.5
                joins.append(time.monotonic() - recording_since)
                # On the shared clock the SDP gives the latency too.
                stream = (["--sdp", e2e.tmp("stream.sdp")] if shared_clock else
                          ["--sync", "--format", "L16", "--rate", "48000", "--channels", "2",
                           "--latency-ms", str(latency_ms)])
                clients.append(children.start(
                    e2e.client_cmd(*stream, "--device-buffer-ms",
                                   str(buffer_ms), "--max-rate-ppm", "0", "--duration",
                                   f"{remaining:.2f}", "--stats-json",
                                   e2e.tmp(f"client{i}.json")),
                    f"client{i}", env=env))
                line = clients[-1].wait_for_line(r"listening on", 10)
                if "through libpulse" not in line:
                    raise Failure(f"client{i} does not play through libpulse: '{line}'")
                if f"playout latency {latency_ms} ms" not in line:
                    raise Failure(f"client{i} does not play at {latency_ms} ms: '{line}'")
                how = "the clock the hosts share" if shared_clock else "round trips"
                if f"in step by {how}" not in line:
                    raise Failure(f"client{i} does not synchronize by {how}: '{line}'")
            stalled = None
            if stall_s or sender_stall_s:
                time.sleep(max(0.0, joins[-1] + latency_ms / 1000 + SETTLE_S + 1.0 -
                               (time.monotonic() - recording_since)))
                who = server if sender_stall_s else clients[0]
                stalled = [time.monotonic() - recording_since]
                os.kill(who.proc.pid, signal.SIGSTOP)
                time.sleep(sender_stall_s or stall_s)
                os.kill(who.proc.pid, signal.SIGCONT)
                stalled.append(time.monotonic() - recording_since)
                print(f"{'the server' if sender_stall_s else 'client0'} stopped from "
                      f"{stalled[0]:.2f} s to {stalled[1]:.2f} s of the recording")
            expect_exit(server, 0, 20)
            for c in clients:
                expect_exit(c, 0, 20)
            time.sleep(0.5)  # what the sink still holds reaches the monitor
            recording_until = time.monotonic()
            recorder.end()
    with open(e2e.tmp("monitor.raw"), "rb") as raw:
        recorded = harness.Sound(RATE, 2, 2, raw.read())
    # parec's frames stand for time since it started; if it dropped audio
    # (a loaded host), every click after the loss comes early by it, on
    # every client at once. Said, so that a failure tells that from ours.
    short_s = (recording_until - recording_since) - recorded.frames / RATE
    print(f"the recording holds {recorded.frames / RATE:.2f} s of "
          f"{recording_until - recording_since:.2f} s recorded ({short_s:.2f} s short; "
          f"parec's own latency is 0.02 s)")
    print(f"the server's last words:\n{server.transcript()}")
    groups = click_groups(recorded)
    if not groups:
        raise Failure("the null sink's monitor recorded no click")

    figures = []
    for i in range(len(buffers_ms)):
        stats = harness.read_json(e2e.tmp(f"client{i}.json"))
        figures.append(stats)
        print(f"client{i}: device buffer {buffers_ms[i]} ms, output latency "
              f"{stats['output_latency_us'] / 1000:.1f} ms, {stats['clock']['exchanges']} round "
              f"trips, clock +-{stats['clock']['uncertainty_us']} us, sync error "
              f"{stats['sync_error_us']} us, {stats['sync_realignments']} realignments, "
              f"underruns {stats['underruns']}, device underflows {stats['device_underflows']}")
        for field in ("packets_lost", "packets_late"):
            if stats[field] != 0:
                raise Failure(f"client{i}: {field} is {stats[field]}")
        if shared_clock and stats["clock"]["questions"] != 0:
            raise Failure(f"client{i} asked {stats['clock']['questions']} clock questions on a "
                          f"shared clock")

    # What the server skipped when its schedule slipped: the clicks after a
    # slip come that many frames later on every client.
    slips = [int(m.group(1)) for m in
             (re.search(r"skipped [0-9.]+ ms ahead \(([0-9]+) frames\)", l)
              for l in server.stderr_lines) if m]
    for frames in slips:
        print(f"the server's schedule slipped {frames} frames")
    if sender_stall_s and not slips:
        raise Failure(f"the server was stopped for {sender_stall_s} s but did not warn that its "
                      f"schedule slipped: {server.stderr_lines[-5:]}")

    if stall_s and figures[0]["device_underflows"] == 0:
        raise Failure("client0 was stopped but its device never ran dry: the stall tested nothing")

    # The clicks that count: from SETTLE_S after the last client joined (its
    # start-up realignment is behind it) to the end of the stream, which
    # every client still plays. The monitor's frame count stands for time
    # since parec started, to within its own latency: far less than SETTLE_S.
    first = int((joins[-1] + latency_ms / 1000 + SETTLE_S) * RATE)
    counted = [g for g in groups if g[0] >= first]
    # Where a device ran dry, its listener's clicks may be lost or moved until
    # it realigns: from a little before (what it held then was heard on time,
    # but parec's own latency blurs the edge) to RESUMED_S after it played
    # again. client0's stall is one; so is any underflow a client warned of
    # (this host is two cores shared with PulseAudio, a server and three
    # clients), from before the last check that did not see it.
    gaps_in_sound = []
    if stall_s:
        gaps_in_sound.append((stalled[0] - 0.1, stalled[1] + RESUMED_S))
    # The first underflow the test did not cause (the host fell behind).
    unplanned_from = None
    for i, c in enumerate(clients):
        for line, at in zip(c.stderr_lines, c.stderr_times):
            if "ran dry" in line:
                heard = at - recording_since
                # The client looks every WATCH_TICK_S, and on a loaded host
                # both it and this reader may be a tick late.
                gaps_in_sound.append((heard - 2 * WATCH_TICK_S - 0.1, heard + RESUMED_S))
                print(f"client{i}'s device ran dry by {heard:.2f} s of the recording")
                planned = stall_s and i == 0 and (
                    stalled[0] - 0.1 <= heard <= stalled[1] + RESUMED_S + 2 * WATCH_TICK_S)
                if not planned:
                    start = int((heard - 2 * WATCH_TICK_S - 0.1) * RATE)
                    unplanned_from = start if unplanned_from is None else min(unplanned_from,
                                                                              start)
    windows = [(int(a * RATE), int(b * RATE)) for a, b in gaps_in_sound]

    def in_gap(frame):
        return any(a <= frame < b for a, b in windows)

    counted = [g for g in counted if not in_gap(g[0])]

    # Every click due from `first` on, on the grid the counted ones lie on
    # (a grid of its own after each slip).
    slots = []
    start = 0
    for end in range(1, len(counted) + 1):
        if end < len(counted) and not slipped_between(counted[end - 1][0], counted[end][0],
                                                      windows, slips):
            continue
        head = counted[start][0]
        grid = head - (head - first) // CLICK_EVERY * CLICK_EVERY if start == 0 else head
        slots += range(grid, counted[end - 1][0] + 1, CLICK_EVERY)
        start = end
    wanted = sum(1 for f in slots if not in_gap(f))
    if slots and wanted < len(slots) // 2 and SANITIZED:
        # The fresh-clone CI of 396b575, under AddressSanitizer: PulseAudio
        # starved of CPU, the devices dry over 49 of 76 clicks. What this pass
        # can still show is that the sanitizer found nothing; the build
        # without it judges the alignment.
        print(f"not judged under a sanitizer: devices ran dry over {len(slots) - wanted} of "
              f"{len(slots)} clicks")
        return
    if slots and wanted < len(slots) // 2:
        raise Failure(f"devices ran dry over {len(slots) - wanted} of {len(slots)} clicks: too "
                      f"little is left to judge alignment by")
    spreads = [last - first_frame for first_frame, last, _ in counted]
    bad = [(f, l, round(n, 2)) for f, l, n in counted if abs(n - 3) > 0.01 or l - f > ALIGNED]
    gaps = [b[0] - a[0] for a, b in zip(counted, counted[1:])]
    print(f"{len(counted)} clicks from frame {first} on, copies spread over "
          f"p50 {statistics.median(spreads) if spreads else '-'} / max "
          f"{max(spreads) if spreads else '-'} frames "
          f"(distribution: {sorted(set((s, spreads.count(s)) for s in spreads))}); "
          f"{len(groups)} groups in all")
    if len(counted) < wanted or len(counted) < 40:
        raise Failure(f"{len(counted)} clicks heard from frame {first}, expected {wanted} "
                      f"(and at least 40); the recording has {recorded.frames} frames")
    # Across a gap in the sound, clicks may be missing but stay on the grid.
    slipped, odd = judge_click_gaps([g[0] for g in counted], windows, slips)
    if sender_stall_s and not any(slipped):
        raise Failure(f"the server's schedule slipped {slips} frames, but no two clicks heard "
                      f"are that much more than {CLICK_EVERY} frames apart: {sorted(set(gaps))}")
    # A device that ran dry because this host fell behind (not the stall the
    # test makes) is held to the same: back in step RESUMED_S after. (It came
    # back 17 frames off and stayed there, with --max-rate-ppm 0, before
    # playout checked its placement once settled.)
    if unplanned_from is not None:
        print(f"an underflow this host caused, from frame {unplanned_from}: held to the same")
    if odd and SANITIZED:
        print(f"not asserted under a sanitizer: clicks not {CLICK_EVERY} frames apart: "
              f"{sorted(set(gaps))[:10]}")
    elif odd:
        around = counted[max(0, odd[0] - 2):odd[0] + 4]
        raise Failure(f"clicks not {CLICK_EVERY} frames apart: {sorted(set(gaps))[:10]}; "
                      f"around the first (first frame, last frame, copies): {around}")
    if bad and SANITIZED:
        # Two to three times slower under AddressSanitizer on two cores, with
        # three clients, a server and PulseAudio: microseconds are not what
        # this pass tests. The build without it holds the bound.
        print(f"not asserted under a sanitizer: {len(bad)} of {len(counted)} clicks off by more "
              f"than {ALIGNED} frames (first frame, last frame, copies): {bad[:10]}")
    elif bad:
        raise Failure(f"{len(bad)} of {len(counted)} clicks not heard once from each client "
                      f"within {ALIGNED} frames (first frame, last frame, copies): {bad[:10]}")


def three_listeners_click_in_step():
    clicks_in_step(buffers_ms=(40, 40, 40), latency_ms=200)


def device_buffers_apart_click_in_step():
    clicks_in_step(buffers_ms=(30, 80, 200), latency_ms=300)


def shared_clock_click_in_step():
    clicks_in_step(buffers_ms=(40, 40, 40), latency_ms=200, shared_clock=True)


def stalled_listener_clicks_in_step_again():
    clicks_in_step(buffers_ms=(30, 80, 200), latency_ms=300, stall_s=0.2)


def stalled_server_clicks_stay_in_step():
    clicks_in_step(buffers_ms=(30, 80, 200), latency_ms=300, sender_stall_s=0.13)


CASES = {
    "two_listeners_synchronize": two_listeners_synchronize,
    "three_listeners_click_in_step": three_listeners_click_in_step,
    "device_buffers_apart_click_in_step": device_buffers_apart_click_in_step,
    "shared_clock_click_in_step": shared_clock_click_in_step,
    "stalled_listener_clicks_in_step_again": stalled_listener_clicks_in_step_again,
    "stalled_server_clicks_stay_in_step": stalled_server_clicks_stay_in_step,
}


def set_up(bin_dir, tmp_dir):
    e2e.set_up(bin_dir, tmp_dir)


if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "e2e", set_up))
