"""What the delivery benchmarks share: a local Label Studio from the test template, timing and table helpers."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ls_langchain.localstudio import Engine, LocalStudio, start_from_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES: dict[Engine, Path] = {
    "sqlite": ROOT / ".cache" / "labelstudio-template",
    "postgresql": ROOT / ".cache" / "labelstudio-template-postgresql",
}


@contextmanager
def local_studio(engine: Engine = "sqlite") -> Iterator[LocalStudio]:
    """A Label Studio of the benchmark's own on a free loopback port, with a throwaway data dir: on SQLite as
    ``label-studio start`` runs it, or on a PostgreSQL cluster of its own with two gunicorn workers per core."""
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as scratch:
        studio = start_from_template(TEMPLATES[engine], Path(scratch) / "data", engine=engine)
        try:
            yield studio
        finally:
            studio.stop()
            if studio.database is not None:
                studio.database.remove()


def median_us(samples_ns: Sequence[int]) -> float:
    return statistics.median(samples_ns) / 1000


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rss_mb() -> float:
    """This process's resident set size in MB, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
