"""The export formats are one table: every name ``Format`` allows has an entry, and no other name is accepted."""

from __future__ import annotations

from typing import get_args

import pytest

from ls_langchain.errors import ConfigurationError
from ls_langchain.export import FORMATS, Format
from ls_langchain.export.pipeline import _FORMAT_KINDS, _REASONS, _format_kind, _LineFormat


def test_every_format_the_type_names_has_an_entry_and_no_more() -> None:
    assert get_args(Format) == FORMATS
    assert tuple(_FORMAT_KINDS) == get_args(Format)


def test_line_formats_name_why_a_task_gave_no_line() -> None:
    for name, kind in _FORMAT_KINDS.items():
        if isinstance(kind, _LineFormat):
            assert kind.none_written in _REASONS, name
            assert kind.example.endswith(".jsonl"), name


def test_an_unknown_format_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"^Unknown export format 'csv': use one of sft, preference, eval\.$"):
        _format_kind("csv")
