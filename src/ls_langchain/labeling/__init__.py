"""Labeling configs: the defaults a new project gets, and what a project's config says about where a run goes."""

from ls_langchain.labeling.defaults import DEFAULT_IMAGES_KEY, LabelStudioMode, default_config
from ls_langchain.labeling.task_layout import TaskLayout, read_layout

__all__ = ["DEFAULT_IMAGES_KEY", "LabelStudioMode", "TaskLayout", "default_config", "read_layout"]
