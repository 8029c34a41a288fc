"""Labeling configs: one typed model of a config, the control kinds, the defaults, and the views read from them
(including the Data Manager grid a new project opens with).

``parse_config(xml) -> LabelingConfig`` reads a config once (``LabelingConfigError`` if it cannot); the handler's
``TaskLayout``, the backend's and the export's layouts are views of that model. ``CONTROL_KINDS`` is the table of
control kinds: per tag, the JSON schema the model fills, the reading of its answer, the ``Evaluation`` family and
``value_from_result`` (a result item as a comparable value); see ``labeling.kinds``.
"""

from ls_langchain.labeling.defaults import DEFAULT_IMAGES_KEY, TOOL_CALLS_KEY, LabelStudioMode, default_config
from ls_langchain.labeling.grid import grid_view
from ls_langchain.labeling.kinds import CONTROL_KINDS, FILLABLE_TAGS, kind_of, taxonomy_paths
from ls_langchain.labeling.model import (
    DIALOGUE_TAGS,
    INPUT_TAGS,
    TEXT_TAGS,
    ConfigControl,
    ConfigObject,
    ControlKind,
    Evaluation,
    LabelingConfig,
    ObjectKind,
    Value,
)
from ls_langchain.labeling.parse import parse_config
from ls_langchain.labeling.task_layout import CONTEXT_KEY, TaskLayout, input_layout, read_layout, task_layout

__all__ = [
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
]
