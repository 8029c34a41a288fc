"""Preference pairs (chosen over rejected) for RLHF / DPO, from what annotators did with the model's answers.

Within one task: an edit (the annotator's answer over the model's original); a Ranker order; a Pairwise choice;
between annotations that ended on different answers, the higher rating; and, when a task has several candidate
answers, the one an annotator picked (kept unchanged, rated or not) over the others. Across tasks: answers to the
same prompt (or the same conversation) rated differently, the higher rated chosen (``SamePromptRatings``).

A pick is the weakest signal: an explicit judgement (edit, ranking, pairwise choice, rating) that says the opposite
overrules it. Pairs that signals of the same strength contradict are dropped.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export.reading import Layout, Reading

__all__ = ["SamePromptRatings", "check_preference", "preference_pairs", "preference_records"]


def check_preference(layout: Layout) -> None:
    """Refuse a config that cannot express a preference, saying what would work."""
    if layout.response is None and layout.ranker is None and layout.pairwise is None:
        raise LabelingConfigError(
            "Preference export needs an answer TextArea (edits, ratings), a Ranker or a Pairwise control, and this "
            'project\'s config has none of them: add <TextArea name="response" toName="..."/> or use --format eval.'
        )


def preference_pairs(reading: Reading) -> list[tuple[str, str]]:
    """Distinct (chosen, rejected) answer texts the annotations of one task support."""
    strong: dict[tuple[str, str], None] = {}
    picks: dict[tuple[str, str], None] = {}
    for judgement in reading.judgements:
        if judgement.response and judgement.base is not None and not judgement.accepted:
            strong[(judgement.response, judgement.base.text)] = None
        elif judgement.response and judgement.accepted:
            picks.update(dict.fromkeys((judgement.response, c.text) for c in reading.candidates))
        strong.update(dict.fromkeys(combinations(judgement.ranking, 2)))
        if judgement.preferred:
            strong[judgement.preferred] = None
    for first, second in combinations(reading.judgements, 2):
        for name in first.ratings.keys() & second.ratings.keys():
            if first.response and second.response and first.ratings[name] != second.ratings[name]:
                better, worse = (first, second) if first.ratings[name] > second.ratings[name] else (second, first)
                strong[(better.response, worse.response)] = None  # type: ignore[index]
    kept = _uncontradicted(strong)
    kept += [pair for pair in _uncontradicted(picks) if pair[::-1] not in strong and pair not in strong]
    return kept


def _uncontradicted(pairs: Mapping[tuple[str, str], object]) -> list[tuple[str, str]]:
    """The pairs of two different, non-empty answers whose reverse is not among ``pairs``."""
    return [(a, b) for a, b in pairs if a and b and a != b and (b, a) not in pairs]


def _context(reading: Reading) -> dict[str, Any]:
    """What a pair's answers respond to: the prompt, or the conversation."""
    return {"prompt": reading.prompt} if reading.prompt is not None else {"messages": list(reading.messages)}


def preference_records(reading: Reading) -> Iterator[dict[str, Any]]:
    """``{"prompt", "chosen", "rejected"}`` for prompt-mode tasks, ``{"messages", "chosen", "rejected"}`` for chats."""
    context = _context(reading)
    for chosen, rejected in preference_pairs(reading):
        yield {**context, "chosen": chosen, "rejected": rejected}


class SamePromptRatings:
    """Rated answers to one prompt in different tasks (two models, two runs), paired once the export has read all.

    Tasks are grouped by their exact prompt text (prompt mode) or their exact conversation (chat mode). Within a
    group, each task's answer gets the mean of its ratings per Rating control; of two tasks whose answers differ and
    whose means differ, the higher is chosen. The answers wait in a temporary SQLite file, so an export's memory does
    not grow with the project.
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ls-langchain-pairs-")
        self._db = sqlite3.connect(Path(self._dir.name) / "ratings.sqlite3")
        self._db.execute(
            "CREATE TABLE rated (prompt_key TEXT, context TEXT, task INTEGER, control TEXT, answer TEXT, rating REAL)"
        )

    def add(self, task_id: int, reading: Reading) -> None:
        """Keep the rated answers of one task."""
        context = _context(reading)
        text = json.dumps(context, ensure_ascii=False, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()
        rows = [
            (key, text, task_id, name, judgement.response, float(stars))
            for judgement in reading.judgements
            if judgement.response
            for name, stars in judgement.ratings.items()
        ]
        self._db.executemany("INSERT INTO rated VALUES (?, ?, ?, ?, ?, ?)", rows)

    def records(self) -> Iterator[tuple[dict[str, Any], tuple[int, int]]]:
        """Each pair's record and the two tasks it comes from, group by group; each group is read alone."""
        self._db.execute("CREATE INDEX rated_by_prompt ON rated (prompt_key)")
        keys = self._db.execute(
            "SELECT prompt_key FROM rated GROUP BY prompt_key HAVING COUNT(DISTINCT task) > 1"
        ).fetchall()
        for (key,) in keys:
            rows = self._db.execute(
                "SELECT context, task, control, answer, AVG(rating) FROM rated WHERE prompt_key = ? "
                "GROUP BY task, control, answer",
                (key,),
            ).fetchall()
            pairs: dict[tuple[str, str], tuple[int, int]] = {}
            for first, second in combinations(rows, 2):
                same_control = first[2] == second[2]
                if same_control and first[1] != second[1] and first[3] != second[3] and first[4] != second[4]:
                    better, worse = (first, second) if first[4] > second[4] else (second, first)
                    pairs[(better[3], worse[3])] = (better[1], worse[1])
            context = json.loads(rows[0][0])
            for chosen, rejected in _uncontradicted(pairs):
                yield {**context, "chosen": chosen, "rejected": rejected}, pairs[(chosen, rejected)]

    def close(self) -> None:
        """Remove the temporary file."""
        self._db.close()
        self._dir.cleanup()
