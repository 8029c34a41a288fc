"""`ls-langchain outbox` on outboxes that are missing or damaged: one line, never a traceback, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from ls_langchain.cli import main


def test_status_of_a_missing_outbox_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["outbox", "status", "--outbox-dir", str(missing)]) == 0
    assert (
        capsys.readouterr().err.strip()
        == f"ls-langchain: no outbox at {missing / 'outbox.sqlite3'}: nothing was logged there."
    )
    assert not missing.exists()


@pytest.mark.parametrize("action", [["status"], ["flush", "--api-key", "k"], ["retry"]])
def test_a_damaged_outbox_is_one_line(action: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "outbox.sqlite3").write_bytes(b"not a database at all " * 200)
    assert main(["outbox", *action, "--outbox-dir", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"ls-langchain: The outbox {tmp_path / 'outbox.sqlite3'} cannot be read")


def test_drop_says_which_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "drop", "--outbox-dir", str(tmp_path)]) == 2
    assert "--project ID|TITLE, or --all" in capsys.readouterr().err
