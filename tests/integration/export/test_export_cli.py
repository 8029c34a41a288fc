"""`ls-langchain export` against the real Label Studio: files written, a summary line, and one readable line per
mistake (never a traceback, never the API key)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.cli import main
from ls_langchain.localstudio import LocalStudio

from export_shapes import PROMPT_CONFIG, answer, prompt_task, read_lines

_CHOICES_ONLY = """<View><Text name="text" value="$text"/>
  <Choices name="verdict" toName="text"><Choice value="Good"/><Choice value="Bad"/></Choices></View>"""


@pytest.fixture
def annotated(ls: LabelStudio, make_project) -> int:
    """A prompt-mode project: one task annotated, one not."""
    project, (done, _) = make_project(PROMPT_CONFIG, [prompt_task("Hi?", "Hello."), prompt_task("Bye?", "Bye.")])
    ls.annotations.create(id=done, result=[answer("Hello there.")])
    return project


def test_export_writes_the_file_and_sums_up(
    studio_env: LocalStudio, annotated: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sft.jsonl"

    code = main(["export", "--project", str(annotated), "--format", "sft", "--out", str(out)])

    assert code == 0
    assert read_lines(out) == [
        {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello there."}]}
    ]
    assert capsys.readouterr().out == f"Exported 1 line from 1 of 2 tasks to {out}. Left out: 1 not annotated.\n"


def test_url_and_key_flags_win_over_the_environment(
    studio: LocalStudio, pat: str, annotated: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "wrong")
    out = tmp_path / "report.md"

    code = main(
        [
            "export",
            "--project",
            str(annotated),
            "--format",
            "eval",
            "--out",
            str(out),
            "--url",
            studio.url,
            "--api-key",
            pat,
        ]
    )

    assert code == 0
    assert out.exists() and out.with_suffix(".json").exists()


def test_nothing_exported_exits_1(studio_env: LocalStudio, annotated: int, tmp_path: Path) -> None:
    assert (
        main(["export", "--project", str(annotated), "--format", "sft", "--out", str(tmp_path / "o"), "--model", "x"])
        == 1
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown project", "has no project with id 987654"),
        ("empty project", "has no tasks yet: log LLM runs into it"),
        ("config without answers", "SFT export needs the answer in a TextArea"),
        ("no api key", "No Label Studio API key: set LABEL_STUDIO_API_KEY or pass --api-key"),
        ("bad limit", "limit must be a positive number of tasks, not 0."),
        ("out is a folder", "is a folder: give the file to write, e.g. "),
    ],
)
def test_mistakes_get_one_line(
    case: str,
    expected: str,
    studio_env: LocalStudio,
    pat: str,
    make_project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = 987654
    extra: list[str] = []
    if case == "empty project":
        project, _ = make_project(PROMPT_CONFIG, [])
    elif case == "config without answers":
        project, _ = make_project(_CHOICES_ONLY, [{"data": {"text": "x"}}])
    elif case == "no api key":
        monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    elif case == "bad limit":
        extra = ["--limit", "0"]
    out = tmp_path / "o.jsonl"
    if case == "out is a folder":
        out.mkdir()

    code = main(["export", "--project", str(project), "--format", "sft", "--out", str(out), *extra])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ls-langchain: ") and expected in err
    assert err.count("\n") == 1
    assert pat not in err
    assert not out.is_file()


def test_a_bad_date_is_refused_by_the_parser(
    studio_env: LocalStudio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--project", "1", "--format", "sft", "--out", str(tmp_path / "o"), "--since", "last tuesday"])

    assert exit_.value.code == 2
    assert "'last tuesday' is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["symlink", "device", "fifo", "/proc/self/fd/1"])
def test_out_is_written_only_as_a_regular_file(
    studio_env: LocalStudio, annotated: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """`--out` naming a symlink, a device or a named pipe is refused in one line and left as it was (it used to be
    replaced by a regular file: as root on /dev/null, that breaks the host)."""
    kept = tmp_path / "kept.txt"
    kept.write_text("kept", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    if kind == "symlink":
        out.symlink_to(kept)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(out, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the test's own /dev/null
    elif kind == "fifo":
        os.mkfifo(out)
    else:
        out = Path(kind)
    before = out.lstat().st_mode

    code = main(["export", "--project", str(annotated), "--format", "sft", "--out", str(out)])

    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"ls-langchain: {out} is a ") and error.count("\n") == 1, error
    assert "choose another --out" in error
    assert out.lstat().st_mode == before
    assert kept.read_text(encoding="utf-8") == "kept"
    assert not list(tmp_path.glob("*.partial"))


def test_out_replaces_a_regular_file_whole(studio_env: LocalStudio, annotated: int, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    out.write_text("old content\n" * 1000, encoding="utf-8")
    (tmp_path / "sft.jsonl.partial").symlink_to(tmp_path / "elsewhere.txt")  # left by someone: never followed

    assert main(["export", "--project", str(annotated), "--format", "sft", "--out", str(out)]) == 0

    assert len(read_lines(out)) == 1
    assert not (tmp_path / "elsewhere.txt").exists()
