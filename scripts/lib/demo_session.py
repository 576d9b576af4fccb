#!/usr/bin/env python3
"""scripts/demo's session, inside the private network namespace it made: one
audiocast-server on its built-in tone, three audiocast-client on lo with no
playback, their live status, then a table of each client's figures.

    demo_session.py BIN_DIR SECONDS
"""

import os
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "e2e"))
import harness  # noqa: E402  (processes bounded in time, ended by PID)

CLIENTS = 3


def show(rows, redraw):
    """The latest line of each process, redrawn in place on a terminal."""
    if redraw:
        sys.stdout.write(f"\033[{len(rows)}F")
    for name, line in rows:
        sys.stdout.write(f"\033[2K{name:>9}  {line}\n" if redraw else f"{name:>9}  {line}\n")
    sys.stdout.flush()


def table(stats):
    columns = [
        ("client", lambda i, s: str(i + 1)),
        ("received", lambda i, s: str(s["packets_received"])),
        ("lost", lambda i, s: str(s["packets_lost"])),
        ("late", lambda i, s: str(s["packets_late"])),
        ("jitter ms", lambda i, s: f"{s['jitter_ms']:.3f}"),
        ("latency p50", lambda i, s: f"{s['latency_ms']['p50']:.3f}"),
        ("p99", lambda i, s: f"{s['latency_ms']['p99']:.3f}"),
        ("max ms", lambda i, s: f"{s['latency_ms']['max']:.3f}"),
        ("IPDV p99 ms", lambda i, s: f"{s['ipdv_ms']['p99']:.3f}"),
        ("bytes/s", lambda i, s: f"{s['throughput_bytes_per_s']:.0f}"),
        ("underruns", lambda i, s: str(s["underruns"])),
        ("concealed", lambda i, s: str(s["concealed_frames"])),
    ]
    cells = [[c[0] for c in columns]]
    cells += [[c[1](i, s) for c in columns] for i, s in enumerate(stats)]
    widths = [max(len(row[k]) for row in cells) for k in range(len(columns))]
    for n, row in enumerate(cells):
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main():
    bin_dir, seconds = sys.argv[1], float(sys.argv[2])
    harness.require_private_namespace()
    server_bin = os.path.join(bin_dir, "audiocast-server")
    client_bin = os.path.join(bin_dir, "audiocast-client")
    with tempfile.TemporaryDirectory(prefix="audiocast-demo-") as tmp, harness.Children() as kids:
        clients = [
            kids.start([client_bin, "--interface", "lo", "--no-playback",
                        "--duration", str(seconds),
                        "--stats-json", os.path.join(tmp, f"client{i}.json")],
                       f"client {i + 1}")
            for i in range(CLIENTS)]
        for c in clients:
            c.wait_for_line(r"listening on", 10)
        server = kids.start([server_bin, "--interface", "lo"], "server", stdin=harness.PIPE)
        banner = server.wait_for_line(r"streaming", 10)
        print(banner)
        print(f"three clients on lo, playout latency 40 ms, for {seconds:g} s:\n")

        redraw = sys.stdout.isatty()
        rows = [(c.name, "joining") for c in clients]
        show(rows, False)
        deadline = time.monotonic() + seconds + 5
        while any(c.proc.poll() is None for c in clients) and time.monotonic() < deadline:
            time.sleep(0.25)
            rows = [(c.name, c.lines[-1] if c.lines and " s " in c.lines[-1] else r[1])
                    for c, r in zip(clients, rows)]
            if redraw:
                show(rows, True)
            else:
                for c in clients:
                    for line in c.lines[getattr(c, "shown", 0):]:
                        if " s " in line:
                            print(f"{c.name:>9}  {line}")
                    c.shown = len(c.lines)
        for c in clients:
            harness.expect_exit(c, 0, 10)

        server.send("STATUS\n")
        print("\nserver:", server.wait_for_line(r"^playing at", 5))
        server.send("QUIT\n")
        harness.expect_exit(server, 0, 10)

        print()
        table([harness.read_json(os.path.join(tmp, f"client{i}.json")) for i in range(CLIENTS)])
        print("\nlatency: arrival minus the send time each packet carries; jitter: RFC 3550; "
              "IPDV: |change in latency|\nbetween packets; figures are each client's own "
              "(audiocast-client --stats-json).")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.Failure as e:
        print(f"scripts/demo: {e}", file=sys.stderr)
        sys.exit(1)
