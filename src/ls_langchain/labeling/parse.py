"""``parse_config``: a labeling config read once with the SDK's ``LabelInterface`` into a ``LabelingConfig``.

The one module besides ``studio.py`` that touches the SDK's parser, and the one home of its private element tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling.kinds import CONTROL_KINDS
from ls_langchain.labeling.model import ConfigControl, ConfigObject, LabelingConfig, frozen_attrs

if TYPE_CHECKING:
    from label_studio_sdk.label_interface import LabelInterface

__all__ = ["parse_config"]


def parse_config(xml: str) -> LabelingConfig:
    """Read a labeling config once; a config the SDK cannot read is a one-line ``LabelingConfigError``."""
    # Imported when a config is first read: the SDK's LabelInterface brings jsf, faker and pandas (~60 MiB).
    from label_studio_sdk.label_interface import LabelInterface

    try:
        interface = LabelInterface(xml)
    except Exception as exc:  # the SDK raises lxml, assertion and its own legacy exception types
        lines = str(exc).strip().splitlines()
        detail = lines[0][:200] if lines else type(exc).__name__
        raise LabelingConfigError(
            f"The labeling config cannot be read (it is not valid XML or not a Label Studio config): {detail}."
        ) from exc
    objects = tuple(
        ConfigObject(
            tag=str(obj.tag), name=str(obj.name), value_key=_key(obj.value), attrs=frozen_attrs(obj.attr or {})
        )
        for obj in interface.objects
    )
    tree = _element_tree(interface)
    controls = tuple(
        ConfigControl(
            tag=str(control.tag),
            name=str(control.name),
            to_name=tuple(str(name) for name in control.to_name or ()),
            labels=tuple(str(label) for label in getattr(control, "labels", None) or ()),
            kind=CONTROL_KINDS.get(str(control.tag)),
            attrs=frozen_attrs(control.attr or {}),
            paths=_taxonomy_paths(tree, control) if control.tag == "Taxonomy" else (),
            _sdk=control,
        )
        for control in interface.controls
    )
    return LabelingConfig(objects=objects, controls=controls)


def _key(value: Any) -> str | None:
    text = "" if value is None else str(value)
    return text[1:] if text.startswith("$") and len(text) > 1 else None


def _element_tree(interface: LabelInterface) -> Any:
    """The XML element tree the SDK parsed (a private attribute: the SDK flattens a Taxonomy's nesting)."""
    return interface._tree


def _taxonomy_paths(tree: Any, control: Any) -> tuple[tuple[str, ...], ...]:
    """A Taxonomy's selectable paths: every ``Choice`` path, or only the leaves when ``leafsOnly="true"``."""
    leaves_only = str((control.attr or {}).get("leafsOnly", "false")).lower() == "true"
    [element] = [e for e in tree.iter("Taxonomy") if e.get("name") == control.name]

    def walk(node: Iterable[Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for child in node:
            if child.tag != "Choice" or child.get("value") is None:
                continue
            path = (*prefix, str(child.get("value")))
            has_children = any(grandchild.tag == "Choice" for grandchild in child)
            if not (leaves_only and has_children):
                yield path
            yield from walk(child, path)

    return tuple(walk(element, ()))
