#!/usr/bin/env python3
"""End-to-end tests of the programs as a careless user runs them: a console fed
by `yes`, signals from a closed terminal, bad paths and numbers, files that are
not what they claim, a disk that fills. Real processes inside a private
network namespace.

    tests/network/netns-run python3 tests/e2e/careless.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def yes_status_into_the_console():
    """`yes STATUS | audiocast-server` with an output nobody reads: the console
    neither grows without bound (it took 23.9 GB) nor delays a packet (it sent
    2): the client receives every packet of the run, on time."""
    source = harness.noise(48000, 2, 2, 3.0, seed=21)
    harness.write_wav(e2e.tmp("source.wav"), source)
    yes = subprocess.Popen(["yes", "STATUS"], stdout=subprocess.PIPE)
    unread_r, unread_w = os.pipe()  # the server's stdout: nobody reads it
    try:
        with Children() as children:
            client = e2e.start_clients(children, 1, source, seconds=5.0)[0]
            server = children.start(e2e.server_cmd("--file", e2e.tmp("source.wav")), "server",
                                    stdin=yes.stdout, stdout_file=unread_w)
            time.sleep(2.5)
            peak = vm_hwm_kib(server.proc.pid)
            expect_exit(server, 0, 15)
            expect_exit(client, 0, 15)
    finally:
        yes.kill()
        yes.wait(5)
        os.close(unread_r)
        os.close(unread_w)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    try:
        harness.expect_starts_after_silence(got, source, "the client's recording")
    except Failure as f:
        raise Failure(f"{f}; the client's figures: {stats}") from None
    e2e.expect_no_loss(stats, "the client")
    if peak > 64 * 1024:
        raise Failure(f"the server's peak memory is {peak} KiB under `yes STATUS`")
    print(f"yes STATUS: peak memory {peak} KiB; {stats['packets_received']} packets, none lost; "
          f"latency p99 {stats['latency_ms']['p99']} ms")


CASES = {
    "yes_status_into_the_console": yes_status_into_the_console,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "careless", e2e.set_up))
