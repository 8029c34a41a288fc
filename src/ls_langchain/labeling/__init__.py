"""Labeling configs: the defaults a new project gets, what a project's config says about where a run goes, and the
Data Manager grid a new project opens with."""

from ls_langchain.labeling.defaults import DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY, LabelStudioMode, default_config
from ls_langchain.labeling.grid import grid_view
from ls_langchain.labeling.task_layout import CONTEXT_KEY, TaskLayout, read_layout

__all__ = [
    "CONTEXT_KEY",
    "DEFAULT_IMAGES_KEY",
    "TOOL_CALLS_KEY",
    "LabelStudioMode",
    "TaskLayout",
    "default_config",
    "grid_view",
    "read_layout",
]
