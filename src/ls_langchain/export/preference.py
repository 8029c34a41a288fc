"""Preference pairs (chosen over rejected) for RLHF / DPO, from what annotators did with the model's answers.

Five signals, all within one task: an edit (the annotator's answer over the model's original); a Ranker order; a
Pairwise choice; between annotations that ended on different answers, the higher rating; and, when a task has several
candidate answers, the one an annotator kept unchanged without rating it over the others. Pairs that annotators
contradict are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export.reading import Layout, Reading

__all__ = ["check_preference", "preference_pairs", "preference_records"]


def check_preference(layout: Layout) -> None:
    """Refuse a config that cannot express a preference, saying what would work."""
    if layout.response is None and layout.ranker is None and layout.pairwise is None:
        raise LabelingConfigError(
            "Preference export needs an answer TextArea (edits, ratings), a Ranker or a Pairwise control, and this "
            'project\'s config has none of them: add <TextArea name="response" toName="..."/> or use --format eval.'
        )


def preference_pairs(reading: Reading) -> list[tuple[str, str]]:
    """Distinct (chosen, rejected) answer texts the annotations of one task support."""
    pairs: dict[tuple[str, str], None] = {}
    for judgement in reading.judgements:
        if judgement.response and judgement.base is not None and not judgement.accepted:
            pairs[(judgement.response, judgement.base.text)] = None
        elif judgement.response and judgement.accepted and not judgement.ratings:
            pairs.update(dict.fromkeys((judgement.response, c.text) for c in reading.candidates))
        pairs.update(dict.fromkeys(combinations(judgement.ranking, 2)))
        if judgement.preferred:
            pairs[judgement.preferred] = None
    for first, second in combinations(reading.judgements, 2):
        for name in first.ratings.keys() & second.ratings.keys():
            if first.response and second.response and first.ratings[name] != second.ratings[name]:
                better, worse = (first, second) if first.ratings[name] > second.ratings[name] else (second, first)
                pairs[(better.response, worse.response)] = None  # type: ignore[index]
    return [(a, b) for a, b in pairs if a and b and a != b and (b, a) not in pairs]


def preference_records(reading: Reading) -> Iterator[dict[str, Any]]:
    """``{"prompt", "chosen", "rejected"}`` for prompt-mode tasks, ``{"messages", "chosen", "rejected"}`` for chats."""
    context: dict[str, Any] = (
        {"prompt": reading.prompt} if reading.prompt is not None else {"messages": list(reading.messages)}
    )
    for chosen, rejected in preference_pairs(reading):
        yield {**context, "chosen": chosen, "rejected": rejected}
