"""`ls-langchain outbox status` and `outbox flush` on runs that waited because the key was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio
from langchain_core.language_models.fake import FakeListLLM

from ls_langchain import LabelStudioCallbackHandler
from ls_langchain.cli import main
from ls_langchain.localstudio import LocalStudio


def test_status_then_flush_with_the_right_key(
    studio: LocalStudio, pat: str, ls: LabelStudio, tmp_path: Path, title: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = LabelStudioCallbackHandler(
        api_key="wrong-key-123456", url=studio.url, project_name=title, outbox_dir=tmp_path, flush_interval=0.05
    )
    llm = FakeListLLM(responses=["ok"], callbacks=[handler])
    for index in range(5):
        llm.invoke(f"call-{index}")
    handler.close(timeout=1)
    capsys.readouterr()

    assert main(["outbox", "status", "--outbox-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert title in shown and "401" in shown and "wrong-key-123456" not in shown
    row = next(line for line in shown.splitlines() if title in line)
    assert "│ 5 " in row

    assert main(["outbox", "flush", "--outbox-dir", str(tmp_path), "--api-key", pat, "--timeout", "60"]) == 0
    [project] = [p for p in ls.projects.list(title=title) if p.title == title]
    prompts = sorted(t.data["prompt"] for t in ls.tasks.list(project=project.id, fields="task_only"))
    assert prompts == [f"call-{i}" for i in range(5)]


def test_flush_without_a_key_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert main(["outbox", "flush", "--outbox-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "ls-langchain: No Label Studio API key: set LABEL_STUDIO_API_KEY or pass --api-key "
        "(Label Studio: Account & Settings > Personal Access Token)."
    )
