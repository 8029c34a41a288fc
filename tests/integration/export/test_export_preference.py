"""Preference export against the real Label Studio: edits, picks among candidates, rankings, pairwise choices and
ratings all become chosen/rejected pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export import export_project
from ls_langchain.studio import Studio

from export_shapes import (
    CHAT_CONFIG,
    PAIRWISE_CONFIG,
    PROMPT_CONFIG,
    RANKER_CONFIG,
    answer,
    prompt_task,
    rating,
    read_lines,
)

_CHOICES_ONLY = """<View><Text name="text" value="$text"/>
  <Choices name="verdict" toName="text"><Choice value="Good"/><Choice value="Bad"/></Choices></View>"""


def test_an_edit_is_chosen_over_the_model_original(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    project, (edited, kept) = make_project(
        PROMPT_CONFIG, [prompt_task("Capital of Peru?", "Lima, probably."), prompt_task("1+1?", "2")]
    )
    ls.annotations.create(id=edited, result=[answer("Lima is the capital of Peru.")])
    ls.annotations.create(id=kept, result=[answer("2")])

    summary = export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [
        {"prompt": "Capital of Peru?", "chosen": "Lima is the capital of Peru.", "rejected": "Lima, probably."}
    ]
    assert summary.left_out == {"no_pair": 1}  # accepting the only answer says nothing about preference


def test_keeping_one_of_several_candidates_prefers_it_over_the_others(
    studio_client: Studio, ls: LabelStudio, make_project, predictions_of, tmp_path: Path
) -> None:
    project, (task,) = make_project(PROMPT_CONFIG, [prompt_task("A haiku?", "Leaves fall.", "Snow on pines, silence.")])
    ls.annotations.create(
        id=task, result=[answer("Snow on pines, silence.")], parent_prediction=predictions_of(task)[1]
    )

    export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [
        {"prompt": "A haiku?", "chosen": "Snow on pines, silence.", "rejected": "Leaves fall."}
    ]


def test_a_picked_candidate_is_preferred_even_when_rated(
    studio_client: Studio, ls: LabelStudio, make_project, predictions_of, tmp_path: Path
) -> None:
    """Picking one of three candidates and rating it is still a preference over the other two."""
    project, (task,) = make_project(PROMPT_CONFIG, [prompt_task("A pun?", "Pun one.", "Pun two.", "Pun three.")])
    ls.annotations.create(id=task, result=[answer("Pun two."), rating(5)], parent_prediction=predictions_of(task)[1])

    export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [
        {"prompt": "A pun?", "chosen": "Pun two.", "rejected": "Pun one."},
        {"prompt": "A pun?", "chosen": "Pun two.", "rejected": "Pun three."},
    ]


def test_ratings_of_answers_to_one_prompt_in_different_tasks_make_pairs(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    """Two models (two tasks) answered the same prompt; the ratings order their answers. Another prompt with one
    task makes no pair."""
    project, (first, second, alone) = make_project(
        PROMPT_CONFIG,
        [
            prompt_task("Name a prime.", "7", model="model-a"),
            prompt_task("Name a prime.", "9", model="model-b"),
            prompt_task("Name a colour.", "Blue", model="model-a"),
        ],
    )
    ls.annotations.create(id=first, result=[answer("7"), rating(5)])
    ls.annotations.create(id=second, result=[answer("9"), rating(2)])
    ls.annotations.create(id=alone, result=[answer("Blue"), rating(4)])

    summary = export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [{"prompt": "Name a prime.", "chosen": "7", "rejected": "9"}]
    assert summary.tasks_exported == 2
    assert summary.left_out == {"no_pair": 1}


def test_ratings_of_several_candidates_order_them(
    studio_client: Studio, ls: LabelStudio, make_project, predictions_of, second_annotator: int, tmp_path: Path
) -> None:
    project, (task,) = make_project(
        PROMPT_CONFIG, [prompt_task("Explain DNS.", "Phone book of the net.", "It is a thing.")]
    )
    good, bad = predictions_of(task)
    ls.annotations.create(id=task, result=[answer("It is a thing."), rating(1)], parent_prediction=bad)
    ls.annotations.create(
        id=task,
        result=[answer("Phone book of the net."), rating(5)],
        parent_prediction=good,
        completed_by=second_annotator,
    )

    export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [
        {"prompt": "Explain DNS.", "chosen": "Phone book of the net.", "rejected": "It is a thing."}
    ]


def test_a_ranking_gives_every_better_worse_pair(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    items = [
        {"id": "a", "title": "A", "body": "ok"},
        {"id": "b", "title": "B", "body": "best"},
        {"id": "c", "body": "bad"},
    ]
    project, (task,) = make_project(
        RANKER_CONFIG, [{"data": {"prompt": "Greet me.", "items": items, "title": "Answers"}}]
    )
    ranking = {"ranker": {"rank": ["b", "a", "c"]}}
    ls.annotations.create(
        id=task, result=[{"from_name": "rank", "to_name": "answers", "type": "ranker", "value": ranking}]
    )

    export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert [(line["chosen"], line["rejected"]) for line in read_lines(tmp_path / "p.jsonl")] == [
        ("best", "ok"),
        ("best", "bad"),
        ("ok", "bad"),
    ]


def test_a_pairwise_choice_and_a_contradiction(
    studio_client: Studio, ls: LabelStudio, make_project, second_annotator: int, tmp_path: Path
) -> None:
    project, (clear, disputed) = make_project(
        PAIRWISE_CONFIG,
        [
            {"data": {"prompt": "Shortest?", "left": "Hi.", "right": "Hello there, friend."}},
            {"data": {"prompt": "Politest?", "left": "Go away.", "right": "Please leave."}},
        ],
    )

    def pick(side: str) -> list[dict[str, object]]:
        return [{"from_name": "compare", "to_name": "compare", "type": "pairwise", "value": {"selected": side}}]

    ls.annotations.create(id=clear, result=pick("left"))
    ls.annotations.create(id=disputed, result=pick("right"))
    ls.annotations.create(id=disputed, result=pick("left"), completed_by=second_annotator)

    summary = export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [
        {"prompt": "Shortest?", "chosen": "Hi.", "rejected": "Hello there, friend."}
    ]
    assert summary.left_out == {"no_pair": 1}


def test_chat_mode_pairs_carry_the_conversation(
    studio_client: Studio, ls: LabelStudio, make_project, tmp_path: Path
) -> None:
    conversation = [{"role": "user", "content": "Name a prime."}]
    project, (task,) = make_project(
        CHAT_CONFIG,
        [
            {
                "data": {"prompt": conversation, "context": []},
                "predictions": [{"model_version": "m", "result": [answer("9", to="dialogue")]}],
            }
        ],
    )
    ls.annotations.create(id=task, result=[answer("7", to="dialogue")])

    export_project(studio_client, project, "preference", tmp_path / "p.jsonl")

    assert read_lines(tmp_path / "p.jsonl") == [{"messages": conversation, "chosen": "7", "rejected": "9"}]


def test_a_config_without_answers_or_comparisons_is_refused(
    studio_client: Studio, make_project, tmp_path: Path
) -> None:
    project, _ = make_project(_CHOICES_ONLY, [{"data": {"text": "hello"}}])

    with pytest.raises(LabelingConfigError, match=r"Preference export needs .* or use --format eval"):
        export_project(studio_client, project, "preference", tmp_path / "p.jsonl")
