"""Model answers that are right in substance but not in the shape asked for, read as what they mean.

Many models (local ones, and any without structured output) answer a classification with the label alone, or
write JSON in a neighbouring shape: a taxonomy path as a list of steps, one label where a list was asked for, a
number as a string, the response text under the TextArea's name or wrapped as ``{"text": ...}``. These functions
turn such answers into the shape ``structured.read_answer`` validates; the values are checked there as strictly as
ever. Anything else still fills nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ls_langchain.predictor.structured import ANSWER_KEY, taxonomy_paths

__all__ = ["answer_text", "labels_in_prose", "reshape"]

_FINAL_PUNCTUATION = ".!?;:,"


def _key(text: str) -> str:
    """A label as compared with prose: case, surrounding whitespace, quotes and final punctuation ignored."""
    return text.strip().strip("\"'`*").rstrip(_FINAL_PUNCTUATION).strip().casefold()


def _names(interface: Any, tag: Any) -> dict[str, str]:
    """What a prose answer may say for each value of a Choices or Taxonomy control: its label, or a category's
    full path (a leaf's own name too when no other category shares it)."""
    if tag.tag == "Choices":
        return {_key(label): label for label in tag.labels}
    paths = taxonomy_paths(interface, tag)
    leaves: dict[str, list[str]] = {}
    for joined, steps in paths.items():
        leaves.setdefault(_key(steps[-1]), []).append(joined)
    names = {leaf: joined[0] for leaf, joined in leaves.items() if len(joined) == 1}
    names.update({_key(joined): joined for joined in paths})
    return names


def labels_in_prose(interface: Any, controls: Sequence[Any], text: str) -> dict[str, Any]:
    """The Choices and Taxonomy values a prose answer names: the whole text is one label (a single choice), or each
    of its lines is one (a multiple choice, a taxonomy). Controls it does not name are left out."""
    lines = [_key(line) for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    answer: dict[str, Any] = {}
    for tag in controls:
        if tag.tag not in ("Choices", "Taxonomy"):
            continue
        names = _names(interface, tag)
        if tag.tag == "Choices" and tag.attr.get("choice") != "multiple":
            if len(lines) == 1 and lines[0] in names:
                answer[tag.name] = names[lines[0]]
        elif all(line in names for line in lines):
            answer[tag.name] = list(dict.fromkeys(names[line] for line in lines))
    return answer


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _single(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def _taxonomy(separator: str) -> Callable[[Any], Any]:
    def paths(value: Any) -> Any:
        value = _as_list(value)
        if not isinstance(value, list):
            return value
        return [separator.join(map(str, v)) if isinstance(v, list) and v else v for v in value]

    return paths


def _shape_of(tag: Any) -> Callable[[Any], Any] | None:
    """How to bring one control's value into the asked-for shape; None for a control read as written."""
    if tag.tag == "Choices":
        return _as_list if tag.attr.get("choice") == "multiple" else _single
    if tag.tag == "Taxonomy":
        return _taxonomy(tag.attr.get("pathSeparator", " / "))
    if tag.tag in ("Rating", "Number"):
        return _number
    return None


def reshape(controls: Sequence[Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """``answer`` with each control's value in the shape its schema asks for, where a model plausibly wrote
    another: a taxonomy path as a list of steps, one label for a list, a one-item list for one label, a number as a
    string."""
    shaped = dict(answer)
    for tag in controls:
        shape = _shape_of(tag)
        if shape is not None and tag.name in shaped:
            shaped[tag.name] = shape(shaped[tag.name])
    return shaped


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _text_of(value.get("text"))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def answer_text(answer: Mapping[str, Any] | None, text: str, response_names: Sequence[str]) -> str:
    """The response text of one reply: ``answer``'s ``answer`` field (a string, ``{"text": ...}`` or a list of
    lines), else a value under a response TextArea's own name; the reply's whole text when it held no JSON."""
    if answer is None:
        return text
    for key in (ANSWER_KEY, *response_names):
        found = _text_of(answer.get(key))
        if found is not None:
            return found
    return ""
