"""What the end-to-end tests share: the namespace check, sound files made and
compared frame by frame, and child processes that are bounded in time and
ended by PID.

Every test here sends real multicast, so it runs only inside a private
network namespace made by tests/network/netns-run; anywhere else it exits 77
(skipped) before starting anything.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import wave

SKIP = 77
PIPE = subprocess.PIPE


class Failure(Exception):
    """A check a user would notice failed."""


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def require_private_namespace():
    """Refuses to run outside a namespace made by netns-run: nothing may reach
    the host's interfaces, loopback included."""
    if os.environ.get("AUDIOCAST_NETNS") != "1":
        skip("AUDIOCAST_NETNS=1 is not set; run through tests/network/netns-run, "
             "which makes a private network namespace")
    names = [name for _, name in socket_if_nameindex()]
    others = [n for n in names if n not in ("lo", "v0", "v1")]
    if others:
        skip(f"interfaces other than lo, v0, v1 are present ({', '.join(others)}): "
             "not a private namespace")


def socket_if_nameindex():
    import socket
    return socket.if_nameindex()


# ---- sound files -----------------------------------------------------------

class Sound:
    """Interleaved PCM frames as bytes, as a WAV file holds them."""

    def __init__(self, rate, channels, width, data):
        self.rate, self.channels, self.width, self.data = rate, channels, width, data

    @property
    def frame_bytes(self):
        return self.channels * self.width

    @property
    def frames(self):
        return len(self.data) // self.frame_bytes

    def frame(self, i):
        fb = self.frame_bytes
        return self.data[i * fb:(i + 1) * fb]

    def seconds(self, frames):
        return frames / self.rate


def noise(rate, channels, width, seconds, seed):
    """Seeded noise in which no sample is zero, so silence (leading, paused)
    can be told from audio frame by frame."""
    rng = random.Random(seed)
    top = (1 << (8 * width - 1)) - 1
    out = bytearray()
    for _ in range(int(rate * seconds) * channels):
        v = rng.randint(1, top // 4) * rng.choice((-1, 1))  # -12 dBFS, never 0
        out += v.to_bytes(width, "little", signed=True)
    return Sound(rate, channels, width, bytes(out))


def write_wav(path, sound):
    with wave.open(path, "wb") as w:
        w.setnchannels(sound.channels)
        w.setsampwidth(sound.width)
        w.setframerate(sound.rate)
        w.writeframes(sound.data)


def read_wav(path):
    with wave.open(path, "rb") as w:
        return Sound(w.getframerate(), w.getnchannels(), w.getsampwidth(),
                     w.readframes(w.getnframes()))


def runs_of_silence(sound):
    """[(first frame, length)] of every run of all-zero frames."""
    zero = bytes(sound.frame_bytes)
    runs, start = [], None
    for i in range(sound.frames):
        if sound.frame(i) == zero:
            if start is None:
                start = i
        elif start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, sound.frames - start))
    return runs


# Frames of the sound itself that a slip's run of silence may take in.
SLIP_EDGE_FRAMES = 4


def server_slips(server):
    """How many times an audiocast-server's schedule skipped ahead: its final
    status line's count if it has one, else its warnings."""
    for line in reversed(server.lines):
        m = re.search(r"([0-9]+) schedule slips \(", line)
        if m:
            return int(m.group(1))
    return sum(1 for l in server.stderr_lines if re.search(r"skipped [0-9.]+ ms ahead", l))


def pauses_besides_slips(sound, slipped_frames):
    """The lengths (frames) of the silent runs inside `sound` (not at its
    start or end), less those a slipping server explains: runs no longer
    than the frames it said it skipped, the shortest first, as long as
    their sum stays within it. A slip's gap is its frames less the fades
    around it, so never more."""
    inner = sorted(n for start, n in runs_of_silence(sound)
                   if start > 0 and start + n < sound.frames)
    left = slipped_frames
    kept = []
    for n in inner:
        # A run may also take in a sample of the sound itself that is zero
        # beside the gap (a tone crossing zero, a fade's last sample rounded):
        # the CI of 74a59db heard 0.098 s for a slip of 4707 frames.
        if n <= left + SLIP_EDGE_FRAMES:
            left -= min(n, left)
        else:
            kept.append(n)
    return kept


def without_silence(sound):
    """The frames that are not all zero, in order."""
    zero = bytes(sound.frame_bytes)
    kept = bytearray()
    for i in range(sound.frames):
        f = sound.frame(i)
        if f != zero:
            kept += f
    return Sound(sound.rate, sound.channels, sound.width, bytes(kept))


def samples(sound, first_frame=0):
    """The signed samples from `first_frame` on, interleaved."""
    w = sound.width
    data = sound.data[first_frame * sound.frame_bytes:]
    return [int.from_bytes(data[i:i + w], "little", signed=True) for i in range(0, len(data), w)]


def leading_silence(sound):
    zero = bytes(sound.frame_bytes)
    i = 0
    while i < sound.frames and sound.frame(i) == zero:
        i += 1
    return i


def start_in_source(got, from_frame, want, probe=48):
    """The frame of `want` at which `got`'s audio from `from_frame` on begins
    (its first `probe` frames found there), or None: where a recording that
    should start at the source's first frame really starts."""
    piece = got.data[from_frame * got.frame_bytes:(from_frame + probe) * got.frame_bytes]
    if len(piece) < probe * got.frame_bytes:
        return None
    at = want.data.find(piece)
    while at >= 0 and at % want.frame_bytes:
        at = want.data.find(piece, at + 1)
    return at // want.frame_bytes if at >= 0 else None


def expect_same_audio(got, want, what):
    """`got` holds exactly `want`'s frames; says where they first differ."""
    if (got.rate, got.channels, got.width) != (want.rate, want.channels, want.width):
        raise Failure(f"{what}: {got.rate} Hz, {got.channels} ch, {8 * got.width} bit; "
                      f"expected {want.rate} Hz, {want.channels} ch, {8 * want.width} bit")
    if got.data == want.data:
        return
    n = min(got.frames, want.frames)
    first = next((i for i in range(n) if got.frame(i) != want.frame(i)), n)
    raise Failure(f"{what}: {got.frames} frames, expected {want.frames}; first difference at "
                  f"frame {first} ({want.seconds(first):.3f} s); differing spans (first frame, "
                  f"frames) {differing_spans(got, want)[:8]}{where_it_came_from(got, want, first)}")


def where_it_came_from(got, want, first):
    """Where in `want` the 48 frames of `got` from `first` on are found, if
    anywhere within a second: a shift says frames were skipped or repeated,
    none says they were changed (resampled, concealed, corrupted)."""
    fb, probe = got.frame_bytes, 48
    piece = got.data[first * fb:(first + probe) * fb]
    if len(piece) < probe * fb or not piece.strip(b"\0"):
        return ""
    lo = max(0, first - want.rate) * fb
    at = want.data.find(piece, lo, (first + want.rate + probe) * fb)
    while at >= 0 and at % fb:
        at = want.data.find(piece, at + 1, (first + want.rate + probe) * fb)
    if at < 0:
        return "; the audio there is not the source's within a second either way"
    return f"; the audio there is the source's from frame {at // fb} (shifted {at // fb - first})"


SPAN_MERGE_FRAMES = 480


def differing_spans(got, want):
    """[(first frame, length)] of every run of frames where `got` and `want`
    differ; runs closer than SPAN_MERGE_FRAMES are one span."""
    fb, n = got.frame_bytes, min(got.frames, want.frames)
    spans, block = [], 240
    for start in range(0, n, block):
        end = min(start + block, n)
        if got.data[start * fb:end * fb] == want.data[start * fb:end * fb]:
            continue
        for i in range(start, end):
            if got.frame(i) == want.frame(i):
                continue
            if spans and i - (spans[-1][0] + spans[-1][1]) < SPAN_MERGE_FRAMES:
                spans[-1] = (spans[-1][0], i + 1 - spans[-1][0])
            else:
                spans.append((i, 1))
    return spans


def losses_that_explain(span_frames, packet_frames, fade_frames):
    """The fewest lost packets that can change a span of `span_frames`.

    One loss changes at most its packet and a fade either side. Losses close
    together make one span, because differing_spans() joins runs of change
    less than SPAN_MERGE_FRAMES apart; k losses spread as far as that allows
    cover k * (packet + 2 fades) + (k - 1) * (SPAN_MERGE_FRAMES - 1) frames,
    which is more than k adjacent losses cover, so that is the bound."""
    one = packet_frames + 2 * fade_frames
    apart = SPAN_MERGE_FRAMES - 1
    return max(1, -(-(span_frames + apart) // (one + apart)))


def expect_same_audio_but_for_lost_packets(got, want, what, lost, packet_frames, fade_frames):
    """`got` holds `want`'s frames, except where `lost` packets were
    concealed: each lost packet changes at most its frames and the fades
    either side, so the spans must take no more than `lost` packets to
    explain (losses_that_explain)."""
    if (got.rate, got.channels, got.width, got.frames) != (want.rate, want.channels, want.width,
                                                           want.frames):
        expect_same_audio(got, want, what)
    spans = differing_spans(got, want)
    packets = sum(losses_that_explain(length, packet_frames, fade_frames) for _, length in spans)
    if packets > lost:
        raise Failure(f"{what}: it differs from the source in {len(spans)} spans "
                      f"(first frame, frames) {spans[:8]}, which take at least {packets} lost "
                      f"packets of {packet_frames} frames (and fades of {fade_frames}); "
                      f"{lost} were lost")


def server_slipped_frames(server):
    """The frames an audiocast-server's schedule skipped ahead when it fell
    behind (a loaded host): its final status line's total if it has one,
    else the sum of its warnings. Every listener hears that many frames of
    gap (a fade to silence) where the slip happened."""
    for line in reversed(server.lines):
        m = re.search(r"schedule slips \([0-9.]+ ms, ([0-9]+) frames\)", line)
        if m:
            return int(m.group(1))
    return sum(int(m.group(1)) for m in
               (re.search(r"skipped [0-9.]+ ms ahead \(([0-9]+) frames\)", l)
                for l in server.stderr_lines) if m)


def without_gaps(got, want, most_frames, change_frames):
    """`got` with the gaps a sender's slips put in it taken out: where `got`
    stops matching `want`, and matches again `change_frames` later once d
    frames are removed (0 < d, all the d's together at most `most_frames`),
    those d frames are removed. What the gap changed around it stays for the
    caller to count. Returns (the Sound, [(frame, frames removed)])."""
    fb, data, removed = got.frame_bytes, bytearray(got.data), []
    probe, left, pos = 48, most_frames, 0
    while left > 0:
        n = min(len(data) // fb, want.frames)
        first = next((i for i in range(pos, n) if data[i * fb:(i + 1) * fb] != want.frame(i)),
                     None)
        if first is None:
            break
        after = first + change_frames
        piece = want.data[after * fb:(after + probe) * fb]
        if len(piece) < probe * fb:
            break
        at = data.find(piece, after * fb, (after + left + probe) * fb)
        while at >= 0 and at % fb:
            at = data.find(piece, at + 1, (after + left + probe) * fb)
        shift = at // fb - after if at >= 0 else 0
        if shift > 0:
            del data[first * fb:(first + shift) * fb]
            removed.append((first, shift))
            left -= shift
        pos = after
    return Sound(got.rate, got.channels, got.width, bytes(data)), removed


def expect_same_audio_across_slips(got, want, what, slipped_frames, lost=0, packet_frames=240,
                                   fade_frames=96):
    """`got` holds `want`'s frames but for `lost` concealed packets and the
    gaps of a sender's schedule slips (`slipped_frames` in all, from
    server_slipped_frames()): each gap is taken out, and what its fades
    changed around it costs as much as one lost packet. `got` may run on past
    `want` by the gaps. Returns what was taken out, to print."""
    if slipped_frames == 0 and lost == 0:
        expect_same_audio(got, want, what)
        return []
    gaps = []
    if slipped_frames:
        got, gaps = without_gaps(got, want, slipped_frames, packet_frames + 2 * fade_frames)
        if got.frames > want.frames:
            got = Sound(got.rate, got.channels, got.width, got.data[:len(want.data)])
    try:
        expect_same_audio_but_for_lost_packets(got, want, what, lost + len(gaps), packet_frames,
                                               fade_frames)
    except Failure as f:
        raise Failure(f"{f}; the server's schedule slipped {slipped_frames} frames and "
                      f"{sum(n for _, n in gaps)} were found as gaps {gaps}") from None
    return gaps


def expect_starts_after_silence(got, want, what, slipped_frames=0):
    """`got` is silence, then exactly `want`, then silence only; but for the
    gaps of a sender's slips, `slipped_frames` in all (server_slipped_frames)."""
    lead = leading_silence(got)
    body = Sound(got.rate, got.channels, got.width,
                 got.data[lead * got.frame_bytes:
                          (lead + want.frames + slipped_frames) * got.frame_bytes])
    gaps = expect_same_audio_across_slips(body, want, what, slipped_frames)
    end = lead + want.frames + sum(n for _, n in gaps)
    rest = got.data[end * got.frame_bytes:]
    if rest.strip(b"\0"):
        raise Failure(f"{what}: audio after the end of the source")
    return lead


# ---- processes -------------------------------------------------------------

class Process:
    """A child whose stdout lines are collected as they come; ended by PID."""

    def __init__(self, args, name, stdin=subprocess.DEVNULL, env=None, stdout_file=None,
                 close_stdin=False):
        if close_stdin:
            # The shell closes fd 0 and execs: no preexec_fn, which may
            # deadlock a child forked while this process runs threads.
            args = ["sh", "-c", 'exec 0<&- "$@"', "sh", *args]
        self.name = name
        self.args = args
        self.lines = []
        self._eof = stdout_file is not None
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args, stdin=stdin, stdout=stdout_file or subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=stdout_file is None)
        self._readers = []
        if stdout_file is None:
            self._readers.append(threading.Thread(target=self._read, args=(self.proc.stdout,),
                                                  daemon=True))
        self.stderr_lines = []
        self.stderr_times = []  # when each stderr line came (time.monotonic())
        self._readers.append(threading.Thread(target=self._read_err, args=(self.proc.stderr,),
                                              daemon=True))
        for r in self._readers:
            r.start()

    def _read(self, stream):
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_err(self, stream):
        for line in stream:
            if isinstance(line, bytes):
                line = line.decode(errors="replace")
            self.stderr_lines.append(line.rstrip("\n"))
            self.stderr_times.append(time.monotonic())

    def mark(self):
        """How many stdout lines have come so far, for wait_for_line(after=)."""
        with self._cond:
            return len(self.lines)

    def wait_for_line(self, pattern, timeout, after=0):
        """The first stdout line from line `after` on that matches `pattern`,
        waiting `timeout` s at most."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = after
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    raise Failure(f"{self.name}: no line matching {pattern!r} within "
                                  f"{timeout} s\n{self.transcript()}")
                self._cond.wait(min(left, 0.1))

    def send(self, text):
        """Writes to the child's stdin; returns mark() from before, so the
        reply can be waited for with wait_for_line(after=)."""
        before = self.mark()
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        return before

    def wait(self, timeout):
        """The exit code; ends the child (by PID) and fails if it overstays."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.end()
            raise Failure(f"{self.name}: still running after {timeout} s\n{self.transcript()}")
        for r in self._readers:
            r.join(2)
        return rc

    def end(self):
        """SIGTERM, then SIGKILL after 3 s: only this child, by its PID."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(3)

    def transcript(self):
        out = "\n".join(f"  {self.name} | {l}" for l in self.lines[-20:])
        err = "\n".join(f"  {self.name} ! {l}" for l in self.stderr_lines[-20:])
        return "\n".join(x for x in (out, err) if x)


class Children:
    """Ends every child still running when the block exits, by PID."""

    def __init__(self):
        self.all = []

    def start(self, *args, **kwargs):
        p = Process(*args, **kwargs)
        self.all.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.all:
            p.end()
        return False


def expect_exit(process, code, timeout):
    rc = process.wait(timeout)
    if rc != code:
        raise Failure(f"{process.name}: exit code {rc}, expected {code}\n"
                      f"{process.transcript()}")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def keep(directory, under):
    """Copies `directory` to the first free `under`/N and returns that path."""
    import shutil
    os.makedirs(under, exist_ok=True)
    n = 1
    while os.path.exists(os.path.join(under, str(n))):
        n += 1
    target = os.path.join(under, str(n))
    shutil.copytree(directory, target)
    return target


def run_cases(cases, prefix, set_up):
    """The command line of a case script: `--bin-dir DIR CASE`, or `--list`.
    `set_up(bin_dir, tmp_dir)` runs inside the private namespace before the
    case, in a temporary directory removed after it. Returns the exit code:
    0 passed, 1 failed (the Failure printed), 77 skipped. With --keep-failed
    DIR, a failed case's directory (recordings, stats) is copied to a new
    DIR/N first, so that an intermittent failure can be looked at."""
    import argparse
    import tempfile
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--keep-failed", metavar="DIR")
    parser.add_argument("case", nargs="?", choices=sorted(cases))
    args = parser.parse_args()
    if args.list:
        print("\n".join(sorted(cases)))
        return 0
    if args.case is None:
        parser.error("a case is needed (see --list)")
    require_private_namespace()
    with tempfile.TemporaryDirectory(prefix=f"audiocast-{prefix}-{args.case}-") as d:
        set_up(args.bin_dir, d)
        try:
            cases[args.case]()
        except Failure as e:
            print(f"FAILED: {args.case}: {e}")
            if args.keep_failed:
                print(f"kept in {keep(d, args.keep_failed)}")
            return 1
    print(f"passed: {args.case}")
    return 0
