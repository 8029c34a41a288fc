"""The capture tests use the handler tests' ``make_handler`` fixture: handlers on the session's Label Studio."""

from __future__ import annotations

from test_handler import make_handler  # noqa: F401  (fixture)
