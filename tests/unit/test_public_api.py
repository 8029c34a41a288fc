"""The public API is what ``__all__`` says, and nothing moves out of it by accident."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "ls_langchain": [
        "AuthenticationError",
        "ConfigurationError",
        "LSLangChainError",
        "LabelStudioCallbackHandler",
        "LabelStudioMode",
        "LabelingConfigError",
        "ProjectNotFoundError",
        "RequestRejectedError",
        "StudioError",
        "StudioUnreachableError",
        "__version__",
    ],
    "ls_langchain.predictor": ["LLMInteractive", "Settings", "learn_project", "predict_project"],
    "ls_langchain.export": ["FORMATS", "ExportSummary", "Filters", "Format", "export_project"],
    "ls_langchain.evaluation": [
        "TRUTHS",
        "Comparison",
        "Evaluation",
        "EvaluationReport",
        "ModelFigures",
        "Truth",
        "evaluate_project",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned_and_importable(module: str) -> None:
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(PUBLIC[module])
    for name in imported.__all__:
        assert getattr(imported, name) is not None


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    import ls_langchain

    assert ls_langchain.__version__ == version("ls-langchain")
