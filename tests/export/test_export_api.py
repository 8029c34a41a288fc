"""The public surface of ``ls_langchain.export``, pinned so that a change to it is a decision."""

from __future__ import annotations

import ls_langchain.export


def test_public_names() -> None:
    assert ls_langchain.export.__all__ == ["FORMATS", "ExportSummary", "Filters", "Format", "export_project"]
    assert ls_langchain.export.FORMATS == ("sft", "preference", "eval")
