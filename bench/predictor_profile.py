"""Where ``ls-langchain predict`` spends its CPU at MAX_CONCURRENCY=32: a py-spy profile of the command's process.

Set up as ``predictor_bulk.py`` (FakeOpenAI answering in 200 ms behind the real ``ChatOpenAI``, a local Label
Studio). py-spy samples only the thread holding the GIL (``--gil``), so the shares are of Python CPU time; samples
inside imports (start-up) are left out. The table groups samples by the package of the innermost frame of ours or
of a library, and by the library that the call went through.

    .venv/bin/python bench/predictor_profile.py --tasks 2000
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, local_studio, table
from predictor_bulk import judge

sys.path[:0] = [str(ROOT / "tests")]
from ls_langchain.studio import Studio  # noqa: E402

from fake_openai import FakeOpenAI  # noqa: E402
from seed_configs import PROMPT_ENGINEERING  # noqa: E402

_FRAME = re.compile(r"\((?P<file>[^()]*):\d+\)$")
_STARTUP = ("importlib._bootstrap", "<frozen importlib")


def _package(frame: str) -> str | None:
    """The top-level package (``openai``, ``ls_langchain``) or stdlib module of one py-spy frame.

    py-spy names files of installed packages relative to site-packages, and others by their full path.
    """
    found = _FRAME.search(frame)
    if found is None:
        return None
    path = found.group("file")
    if "/src/ls_langchain/" in path:
        return "ls_langchain"
    if not path.startswith(("/", "<")):
        return path.split("/")[0].removesuffix(".py")
    return "stdlib:" + Path(path).stem


def profile(raw: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples after start-up; per package of the innermost frame; per library a sample passed through."""
    leaf: collections.Counter[str] = collections.Counter()
    through: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if any(marker in frame for frame in frames for marker in _STARTUP):
            continue
        total += int(count)
        packages = [p for p in (_package(f) for f in frames) if p]
        if packages:
            leaf[packages[-1]] += int(count)
        for package in set(packages):
            through[package] += int(count)
    return total, leaf, through


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with (
        FakeOpenAI(responder=judge, delay=0.2) as llm,
        local_studio() as ls,
        tempfile.TemporaryDirectory() as scratch,
    ):
        studio = Studio(ls.url, ls.personal_token())
        project = studio.create_project("bench-predict-profile", PROMPT_ENGINEERING)
        texts = [{"text": f"Claim number {i}: water boils at {i % 90 + 10} C."} for i in range(args.tasks)]
        for start in range(0, args.tasks, 1000):
            studio.import_tasks(project.id, texts[start : start + 1000])
        env = {
            **os.environ,
            "LABEL_STUDIO_URL": ls.url,
            "LABEL_STUDIO_API_KEY": ls.personal_token(),
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            "MAX_CONCURRENCY": str(args.concurrency),
            "MODEL_DIR": scratch,
        }
        raw = Path(scratch) / "predict.raw"
        predict = [sys.executable, "-m", "ls_langchain.cli", "predict", "--project", str(project.id)]
        spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--gil", "--format", "raw", "-o", str(raw)]
        started = time.perf_counter()
        run = subprocess.run(
            [*spy, "--rate", "250", "--", *predict, "--prompt", "Judge the claim"],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        assert run.returncode == 0, run.stdout + run.stderr
        total, leaf, through = profile(raw)
    print(f"### ls-langchain predict, {args.tasks} tasks at MAX_CONCURRENCY={args.concurrency}: {wall:.0f} s wall\n")
    rows = [(name, f"{count / total:.0%}", f"{through[name] / total:.0%}") for name, count in leaf.most_common(12)]
    print(table(("package", "share of CPU (innermost frame)", "share of CPU (anywhere on the stack)"), rows))


if __name__ == "__main__":
    main()
