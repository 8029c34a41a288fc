"""Unit tests: no server and no network beyond the loopback test doubles; ``make unit`` runs them on any machine."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

# Fixtures that start or reach a real server; a unit test that asks for one belongs in tests/integration/.
SERVER_FIXTURES = frozenset({"studio", "start_own_studio", "pat", "ls", "studio_env", "legacy_tokens"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail loudly, at collection, when a test under unit/ needs a server."""
    for item in items:
        wanted = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if wanted and HERE in item.path.parents:
            raise pytest.UsageError(f"{item.nodeid} uses {sorted(wanted)}: move it to tests/integration/.")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Test files share one import namespace (no packages): two of one name anywhere under tests/ would break a
    full run at collection, so say which, whatever subset runs."""
    names: dict[str, Path] = {}
    for path in sorted(HERE.parent.rglob("test_*.py")):
        if path.name in names:
            raise pytest.UsageError(f"{path} and {names[path.name]} share a file name: rename one.")
        names[path.name] = path
