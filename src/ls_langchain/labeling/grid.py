"""The Data Manager grid a new project opens with: what the tasks are about, without the raw data people cannot read.

Label Studio shows every ``task.data`` key as a column of raw text: a conversation is a JSON list of messages and an
image list is whole base64 data URIs. A view (``/api/dm/views/``) lists the columns it hides, per mode (``explore``
is the grid, ``labeling`` the task list beside the editor); a column it does not list is shown, and it may list a
data column no task has yet. So the view hides what Label Studio hides by default plus the data it cannot show
readably, and shows the facts people filter on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ls_langchain.labeling.defaults import DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY
from ls_langchain.labeling.parse import parse_config
from ls_langchain.labeling.task_layout import task_layout

__all__ = ["DEFAULT_VIEW_TITLE", "SHOWN_COLUMNS", "grid_view"]

DEFAULT_VIEW_TITLE = "Default"
#: Columns Label Studio hides by default that people look for, per mode: in the grid the model (the predictions'
#: model version is the model's name) and when the run was logged; beside the editor, which task it is.
SHOWN_COLUMNS = {
    "explore": ("tasks:predictions_model_versions", "tasks:created_at"),
    "labeling": ("tasks:id",),
}


# Object tags whose data is a list of objects, which the grid prints as raw JSON.
_LIST_OBJECTS = frozenset({"Paragraphs", "Table"})


def _unreadable_data_keys(label_config: str) -> set[str]:
    """Data keys holding lists that Label Studio prints as raw JSON: dialogues, image lists, tool calls, tables (the
    retrieved documents)."""
    config = parse_config(label_config)
    keys = {task_layout(config).images_key or DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY}
    for obj in config.objects:
        listed = obj.attrs.get("valueList", "")
        if listed.startswith("$"):
            keys.add(listed[1:])
        elif obj.tag in _LIST_OBJECTS and obj.value_key:
            keys.add(obj.value_key)
    return keys


def _column_key(column: Mapping[str, Any]) -> str:
    """How a view names a column: ``tasks:id``, ``tasks:data.prompt``."""
    path = f"{column['parent']}.{column['id']}" if column.get("parent") else str(column["id"])
    return f"{column.get('target', 'tasks')}:{path}"


def grid_view(label_config: str, columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The view data of a new project's first tab, from its config and Label Studio's columns (``/api/dm/columns``,
    whose ``visibility_defaults`` say what Label Studio shows by itself)."""
    unreadable = sorted(f"tasks:data.{key}" for key in _unreadable_data_keys(label_config))
    hidden: dict[str, list[str]] = {}
    for mode, shown in SHOWN_COLUMNS.items():
        hidden_by_default = [
            key
            for column in columns
            if not column.get("children")  # the "data" group is shown or hidden through its children
            and not (column.get("visibility_defaults") or {}).get(mode, True)
            and (key := _column_key(column)) not in shown
        ]
        hidden[mode] = list(dict.fromkeys([*hidden_by_default, *unreadable]))
    return {"title": DEFAULT_VIEW_TITLE, "hiddenColumns": hidden}
