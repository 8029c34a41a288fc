"""The hook's cost when another process holds the outbox's write lock: ``Outbox.append`` with the file free and with
it locked (``BEGIN EXCLUSIVE`` on another connection), measured side by side in interleaved rounds.

Locked, records wait in memory and the file is tried again every 50 ms; the table gives the median and the slowest
append of each and the 99th percentile, so the waits the call path can see are in plain sight.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import median_us, table

from ls_langchain.delivery import Outbox


def timed_appends(outbox: Outbox, count: int, label: str) -> list[int]:
    samples = []
    for index in range(count):
        start = time.perf_counter_ns()
        outbox.append("bench", f"{label}-{index}", '{"v":1,"run":{"id":"x","responses":["a fine answer"]}}')
        samples.append(time.perf_counter_ns() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="appends per round and case")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    free: list[int] = []
    locked: list[int] = []
    with tempfile.TemporaryDirectory() as directory:
        outbox = Outbox(Path(directory))
        other = sqlite3.connect(Path(directory) / "outbox.sqlite3", isolation_level=None)
        for round_ in range(args.rounds):
            free += timed_appends(outbox, args.calls, f"free{round_}")
            other.execute("BEGIN EXCLUSIVE")
            locked += timed_appends(outbox, args.calls, f"locked{round_}")
            other.execute("COMMIT")
            outbox.flush_buffer()
        assert outbox.count() == 2 * args.calls * args.rounds  # nothing lost
    rows = [
        (name, f"{median_us(samples):.0f}", f"{p99(samples) / 1e6:.2f}", f"{max(samples) / 1e6:.1f}")
        for name, samples in (("free", free), ("locked by another process", locked))
    ]
    print(table(["outbox file", "median append (µs)", "99th percentile (ms)", "slowest (ms)"], rows))


def p99(samples: list[int]) -> int:
    return sorted(samples)[int(len(samples) * 0.99)]


if __name__ == "__main__":
    main()
