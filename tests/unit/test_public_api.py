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
    "ls_langchain.labeling": [
        "CONTEXT_KEY",
        "CONTROL_KINDS",
        "DEFAULT_IMAGES_KEY",
        "DIALOGUE_TAGS",
        "FILLABLE_TAGS",
        "INPUT_TAGS",
        "TEXT_TAGS",
        "TOOL_CALLS_KEY",
        "ConfigControl",
        "ConfigObject",
        "ControlKind",
        "Evaluation",
        "LabelStudioMode",
        "LabelingConfig",
        "ObjectKind",
        "TaskLayout",
        "Value",
        "default_config",
        "grid_view",
        "input_layout",
        "kind_of",
        "parse_config",
        "read_layout",
        "task_layout",
        "taxonomy_paths",
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


def test_importing_the_package_leaves_the_sdks_heavy_parts_unloaded() -> None:
    """``import ls_langchain`` must not pay for the SDK's client (pandas) or its LabelInterface (jsf, faker): a
    process pays for them when it first constructs a handler or reads a config."""
    import subprocess
    import sys

    probe = (
        "import sys, ls_langchain; "
        "print(sorted(m for m in ('pandas', 'jsf', 'faker', 'label_studio_sdk.client', "
        "'label_studio_sdk.label_interface') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
