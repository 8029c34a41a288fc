"""Integration tests: each runs against real servers the suite starts (Label Studio, Redis, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under integration/, so ``-m "not integration"`` leaves them out by where they live."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
