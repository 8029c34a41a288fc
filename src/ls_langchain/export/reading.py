"""Pure functions that read what a labeling config means and what one task's annotations say.

The export's ``Layout`` is a view of ``labeling.LabelingConfig``: which TextArea holds the answer and which Text or
Paragraphs object holds the conversation (the handler's own rule, ``labeling.task_layout``), and which Rating,
Choices, Taxonomy, Ranker and Pairwise controls judge it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.labeling import INPUT_TAGS, LabelingConfig, input_layout, parse_config, task_layout

__all__ = ["Candidate", "Judgement", "Layout", "Reading", "export_layout", "read_layout", "read_task"]

_LABEL_TAGS = ("Choices", "Taxonomy")
# Custom dialogue configs often name speakers the way people do; fine-tuning formats want OpenAI role names.
_ROLE_ALIASES = {"human": "user", "ai": "assistant", "bot": "assistant", "model": "assistant", "function": "tool"}
_MESSAGE_KEYS = ("name", "tool_calls", "tool_call_id")


@dataclass(frozen=True)
class Layout:
    """What an export needs to know about a labeling config."""

    input_name: str  # the Text / Paragraphs object holding the prompt or the conversation
    input_key: str  # its ``$variable`` in task data
    dialogue: bool  # Paragraphs (a list of messages) rather than one text
    role_key: str = "role"
    content_key: str = "content"
    response: str | None = None  # the TextArea with the model's answer, edited by the annotator
    ratings: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()  # (control name, taxonomy path separator)
    ranker: tuple[str, str] | None = None  # (control name, data key of the List of candidates)
    pairwise: tuple[str, str, str] | None = None  # (control name, data key left, data key right)


@dataclass(frozen=True)
class Candidate:
    """One response the model gave (a prediction), or one of the candidates shown for ranking."""

    text: str
    model_version: str
    prediction_id: int | None = None


@dataclass(frozen=True)
class Judgement:
    """What one annotator said about one task."""

    response: str | None  # the final answer: the annotator's text, or the prediction they accepted
    base: Candidate | None  # the model answer the annotator started from
    ratings: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ranking: tuple[str, ...] = ()  # candidate texts, best first
    preferred: tuple[str, str] | None = None  # (chosen, rejected) from a Pairwise control

    @property
    def accepted(self) -> bool:
        """The annotator kept the model's answer unchanged."""
        return self.base is not None and self.response == self.base.text


@dataclass(frozen=True)
class Reading:
    """One task as the exports see it."""

    messages: tuple[dict[str, Any], ...]  # the conversation up to the answer, OpenAI chat format
    prompt: str | None  # the single prompt text, for prompt-mode (Text) inputs
    candidates: tuple[Candidate, ...]
    judgements: tuple[Judgement, ...]
    model_name: str  # from the task meta, for tasks without predictions

    @property
    def models(self) -> tuple[str, ...]:
        """Each model version that answered this task, once, in order."""
        versions = [c.model_version for c in self.candidates] or [self.model_name]
        return tuple(dict.fromkeys(versions))


def export_layout(config: LabelingConfig) -> Layout:
    """Find the input, the answer TextArea (by the handler's rule) and the judging controls; no input, no export."""
    ranker = next(iter(config.controls_of("Ranker")), None)
    pairwise = next(iter(config.controls_of("Pairwise")), None)
    try:
        logged = task_layout(config)
    except LabelingConfigError:  # no answer TextArea: rankings, pairwise choices and labels may still be exported
        judged = {*(ranker.to_name if ranker else ()), *(pairwise.to_name if pairwise else ())}
        source = next((o for o in config.objects if o.tag in INPUT_TAGS and o.name not in judged), None)
        if source is None:
            raise LabelingConfigError(
                "The project's labeling config has no Text or Paragraphs object holding the prompt: an export needs "
                'one, e.g. <Text name="prompt" value="$prompt"/> with <TextArea name="response" toName="prompt"/>.'
            ) from None
        logged = input_layout(source)
    return Layout(
        input_name=logged.input_name,
        input_key=logged.input_key,
        dialogue=logged.input_kind == "dialogue",
        role_key=logged.role_key,
        content_key=logged.text_key,
        response=logged.response_name or None,
        ratings=tuple(c.name for c in config.controls_of("Rating")),
        labels=tuple((c.name, c.separator) for c in config.controls_of(*_LABEL_TAGS)),
        ranker=(ranker.name, _data_key(config, ranker.to_name[0])) if ranker else None,
        pairwise=(
            (pairwise.name, _data_key(config, pairwise.to_name[0]), _data_key(config, pairwise.to_name[1]))
            if pairwise is not None and len(pairwise.to_name) >= 2
            else None
        ),
    )


def read_layout(label_config: str) -> Layout:
    """The export's layout of a config given as XML: ``export_layout(parse_config(label_config))``."""
    return export_layout(parse_config(label_config))


def _data_key(config: LabelingConfig, name: str) -> str:
    """The data key of the object ``name`` (a Ranker's List, a Pairwise side); empty when it has none."""
    obj = config.object(name)
    return (obj.value_key or "") if obj is not None else ""


def read_task(task: Mapping[str, Any], layout: Layout) -> Reading:
    """Read one task (a dict from ``Studio.iter_tasks``) through the project's layout."""
    data = task.get("data") or {}
    candidates = tuple(_candidates(task, layout))
    judgements = tuple(
        _judgement(annotation, layout, candidates, data)
        for annotation in task.get("annotations") or ()
        if not annotation.get("was_cancelled")
    )
    source = data.get(layout.input_key)
    return Reading(
        messages=tuple(_messages(source, layout)),
        prompt=None if layout.dialogue else _text(source),
        candidates=candidates,
        judgements=judgements,
        model_name=str((task.get("meta") or {}).get("model_name") or "(unknown)"),
    )


def _text(value: Any) -> str:
    if isinstance(value, list):  # a TextArea answer is a list of lines
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def _messages(source: Any, layout: Layout) -> Iterator[dict[str, Any]]:
    if not layout.dialogue:
        yield {"role": "user", "content": _text(source)}
        return
    for item in source if isinstance(source, list) else ():
        if not isinstance(item, dict):
            continue
        role = str(item.get(layout.role_key) or "user").lower()
        message: dict[str, Any] = {"role": _ROLE_ALIASES.get(role, role), "content": item.get(layout.content_key)}
        message.update({key: item[key] for key in _MESSAGE_KEYS if item.get(key) is not None})
        yield message


def _results(result: Sequence[Mapping[str, Any]] | None, name: str | None) -> Iterator[Mapping[str, Any]]:
    """The values a control gave in one annotation or prediction result."""
    for region in result or ():
        if name is not None and region.get("from_name") == name:
            yield region.get("value") or {}


def _candidates(task: Mapping[str, Any], layout: Layout) -> Iterator[Candidate]:
    for prediction in task.get("predictions") or ():
        for value in _results(prediction.get("result"), layout.response):
            yield Candidate(
                text=_text(value.get("text")),
                model_version=str(prediction.get("model_version") or "(unknown)"),
                prediction_id=prediction.get("id"),
            )


def _base(response: str | None, parent: Any, candidates: Sequence[Candidate]) -> Candidate | None:
    """The model answer an annotation started from: its parent prediction, an identical one, or the closest one."""
    by_parent = next((c for c in candidates if parent is not None and c.prediction_id == parent), None)
    if by_parent is not None or not candidates:
        return by_parent
    if response is None:
        return candidates[0] if len(candidates) == 1 else None
    same = next((c for c in candidates if c.text == response), None)
    return same or max(candidates, key=lambda c: difflib.SequenceMatcher(None, c.text, response).ratio())


def _judgement(
    annotation: Mapping[str, Any], layout: Layout, candidates: Sequence[Candidate], data: Mapping[str, Any]
) -> Judgement:
    result = annotation.get("result")
    answers = [_text(v.get("text")) for v in _results(result, layout.response)]
    response = answers[0] if answers else None
    base = _base(response, annotation.get("parent_prediction"), candidates)
    return Judgement(
        # An annotator who judged without touching the answer kept the model's one.
        response=response if response is not None else (base.text if base else None),
        base=base,
        ratings={name: int(v["rating"]) for name in layout.ratings for v in _results(result, name) if "rating" in v},
        labels={
            name: tuple(_labels(value, separator))
            for name, separator in layout.labels
            for value in _results(result, name)
        },
        ranking=_ranking(result, layout, data),
        preferred=_preferred(result, layout, data),
    )


def _labels(value: Mapping[str, Any], separator: str) -> Iterator[str]:
    yield from (str(choice) for choice in value.get("choices") or ())
    yield from (separator.join(str(step) for step in path) for path in value.get("taxonomy") or ())


def _ranking(result: Any, layout: Layout, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Candidate texts best first, from a plain (one-list) Ranker; the List items carry ``id`` and ``body``."""
    if layout.ranker is None:
        return ()
    name, key = layout.ranker
    items = {str(item.get("id")): _text(item.get("body")) for item in data.get(key) or () if isinstance(item, dict)}
    for value in _results(result, name):
        ranked = value.get("ranker") or {}
        if len(ranked) == 1:
            order = next(iter(ranked.values()))
            return tuple(items[str(i)] for i in order if str(i) in items)
    return ()


def _preferred(result: Any, layout: Layout, data: Mapping[str, Any]) -> tuple[str, str] | None:
    if layout.pairwise is None:
        return None
    name, left, right = layout.pairwise
    for value in _results(result, name):
        if value.get("selected") == "left":
            return _text(data.get(left)), _text(data.get(right))
        if value.get("selected") == "right":
            return _text(data.get(right)), _text(data.get(left))
    return None
