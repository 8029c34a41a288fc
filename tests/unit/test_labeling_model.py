"""One model of a labeling config: parsed once, typed, and the table of control kinds that fills and compares it."""

from __future__ import annotations

from typing import Any

import pytest
from label_studio_sdk.label_interface import LabelInterface

from ls_langchain.errors import LabelingConfigError
from ls_langchain.export.reading import read_layout as export_layout_of
from ls_langchain.labeling import (
    CONTROL_KINDS,
    FILLABLE_TAGS,
    ConfigControl,
    Evaluation,
    LabelStudioMode,
    ObjectKind,
    default_config,
    kind_of,
    parse_config,
)
from ls_langchain.labeling import read_layout as task_layout_of
from ls_langchain.labeling.parse import _element_tree
from ls_langchain.predictor.layout import read_layout as backend_layout_of
from ls_langchain.predictor.structured import answer_schema, read_answer

from seed_configs import ALL_CONTROLS, SEED_CONFIGS

CONFIG = parse_config(ALL_CONTROLS)
TEXT = "Anna flew from Paris to Rome."


def control(name: str) -> ConfigControl:
    found = CONFIG.control(name)
    assert found is not None, name
    return found


def test_a_config_is_read_into_typed_objects_and_controls() -> None:
    [text] = CONFIG.objects
    assert (text.tag, text.name, text.value_key, text.kind) == ("Text", "text", "text", ObjectKind.TEXT)
    assert [(c.tag, c.name, c.to_name) for c in CONFIG.controls][:3] == [
        ("TextArea", "prompt", ("text",)),
        ("TextArea", "summary", ("text",)),
        ("Labels", "entities", ("text",)),
    ]
    assert control("tone").labels == ("Positive", "Negative")
    assert control("topics").attrs["choice"] == "multiple"
    assert control("kind").paths == (("Story",), ("Story", "Fiction"), ("Story", "Memoir"), ("Note",))
    assert all(c.kind is CONTROL_KINDS[c.tag] for c in CONFIG.controls)


def test_paragraphs_keys_default_to_label_studios_and_follow_the_config() -> None:
    chat = parse_config(default_config(LabelStudioMode.CHAT)).object("dialogue")
    assert chat is not None
    assert (chat.kind, chat.value_key) == (ObjectKind.DIALOGUE, "prompt")
    assert (chat.name_key, chat.text_key) == ("role", "content")
    bare = parse_config('<View><Paragraphs name="p" value="$d"/></View>').object("p")
    assert bare is not None
    assert (bare.name_key, bare.text_key) == ("author", "text")


def test_a_value_that_is_not_a_variable_has_no_data_key() -> None:
    obj = parse_config('<View><Text name="t" value="plain"/></View>').object("t")
    assert obj is not None
    assert obj.value_key is None


@pytest.mark.parametrize(
    "read",
    [task_layout_of, export_layout_of, lambda xml: backend_layout_of(xml, "prompt"), parse_config],
    ids=["handler", "export", "backend", "model"],
)
def test_every_reader_refuses_a_broken_config_with_the_same_one_line(read: Any) -> None:
    with pytest.raises(LabelingConfigError) as caught:
        read("<View><Text name='prompt' value='$prompt'></View>")
    message = str(caught.value)
    assert message.startswith("The labeling config cannot be read (it is not valid XML or not a Label Studio config)")
    assert "\n" not in message


def test_every_fillable_tag_and_the_textarea_have_a_kind() -> None:
    assert set(FILLABLE_TAGS) == {"Choices", "Taxonomy", "Rating", "Number", "Labels", "Pairwise"}
    assert set(CONTROL_KINDS) == {*FILLABLE_TAGS, "TextArea"}
    for seed in (*SEED_CONFIGS.values(), ALL_CONTROLS):
        for found in backend_layout_of(seed, "prompt").controls:
            assert kind_of(found) is CONTROL_KINDS[found.tag]


def test_a_tag_without_a_kind_is_refused_not_read_as_labels() -> None:
    ranker = parse_config('<View><Text name="t" value="$t"/><Ranker name="rank" toName="t"/></View>').control("rank")
    assert ranker is not None
    assert ranker.kind is None
    with pytest.raises(LabelingConfigError, match=r"<Ranker name='rank'> is not a control this package fills"):
        kind_of(ranker)
    stray = ConfigControl(tag="Hypothetical", name="h", to_name=("t",), labels=("Person",), kind=None)
    with pytest.raises(LabelingConfigError, match="Hypothetical"):
        answer_schema([stray], with_answer=False)
    with pytest.raises(LabelingConfigError, match="Hypothetical"):
        read_answer([stray], {"h": [{"label": "Person", "text": "Anna"}]}, {"t": TEXT})


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("tone", Evaluation.SINGLE_CHOICE),
        ("topics", Evaluation.MULTI_LABEL),
        ("kind", Evaluation.MULTI_LABEL),
        ("quality", Evaluation.SCALAR),
        ("year", Evaluation.SCALAR),
        ("entities", Evaluation.SPANS),
        ("summary", Evaluation.TEXT),
    ],
)
def test_each_control_has_its_evaluation_family(name: str, family: Evaluation) -> None:
    found = control(name)
    assert kind_of(found).evaluation(found) is family


@pytest.mark.parametrize(
    ("name", "answer", "expected"),
    [
        ("tone", "Negative", "Negative"),
        ("topics", ["Work", "Travel"], frozenset({"Travel", "Work"})),
        ("kind", ["Story / Memoir", "Note"], frozenset({"Story / Memoir", "Note"})),
        ("quality", 4, 4),
        ("year", 1999.5, 1999.5),
        ("entities", [{"label": "City", "text": "Rome"}], frozenset({("City", 24, 28)})),
        ("summary", "A trip.", "A trip."),
    ],
)
def test_a_result_the_model_filled_reads_back_as_a_comparable_value(name: str, answer: Any, expected: Any) -> None:
    found = control(name)
    kind = kind_of(found)
    [result], reason = kind.read(found, answer, {"text": TEXT})
    assert reason is None
    assert result["from_name"] == name
    assert kind.value_from_result(found, result) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("tone", {}, None),
        ("topics", {"choices": []}, frozenset()),
        ("quality", {"rating": "3"}, None),
        ("year", {}, None),
        ("summary", {"text": ["two", "lines"]}, "two\nlines"),
        ("entities", {"labels": ["City"]}, frozenset()),
    ],
)
def test_results_annotators_wrote_read_as_values_or_nothing(name: str, value: dict[str, Any], expected: Any) -> None:
    found = control(name)
    assert kind_of(found).value_from_result(found, {"from_name": name, "value": value}) == expected


def test_the_sdk_still_exposes_the_element_tree_a_taxonomy_is_read_from() -> None:
    """A private SDK attribute: this fails first when an SDK upgrade renames or drops it."""
    tree = _element_tree(LabelInterface(ALL_CONTROLS))
    assert [element.get("name") for element in tree.iter("Taxonomy")] == ["kind"], (
        "label_studio_sdk's LabelInterface no longer has the parsed element tree `_tree`: "
        "update labeling/parse.py:_element_tree"
    )


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("tone", ("Positive", "Negative")),
        ("kind", ("Story", "Story / Fiction", "Story / Memoir", "Note")),
        ("quality", ("1", "2", "3", "4")),  # maxRating="4"
        ("year", ()),
        ("summary", ()),
    ],
)
def test_each_control_lists_the_values_a_person_can_give(name: str, values: tuple[str, ...]) -> None:
    found = control(name)
    assert kind_of(found).values(found) == values


@pytest.mark.parametrize(
    ("name", "prose", "expected"),
    [
        ("tone", "  negative.\n", "Negative"),
        ("tone", "Negative\nPositive", None),
        ("topics", "travel\nWork", ["Travel", "Work"]),
        ("kind", "Memoir\nnote", ["Story / Memoir", "Note"]),
        ("quality", "4", None),
    ],
)
def test_a_plain_text_answer_names_labels_only_when_it_is_exactly_them(name: str, prose: str, expected: Any) -> None:
    found = control(name)
    assert kind_of(found).from_prose(found, prose.splitlines()) == expected


PAIRWISE = parse_config(
    """<View><Text name="answer_a" value="$a"/><Text name="answer_b" value="$b"/>
    <Pairwise name="better" toName="answer_a,answer_b"/></View>"""
)


def test_a_pairwise_judgement_is_filled_read_back_and_compared_as_one_of_two_sides() -> None:
    better = PAIRWISE.control("better")
    assert better is not None
    kind = kind_of(better)
    assert kind.schema(better)["anyOf"][0]["enum"] == ["left", "right"]
    [region], reason = kind.read(better, "right", {})
    assert reason is None
    assert (region["from_name"], region["type"], region["value"]) == ("better", "pairwise", {"selected": "right"})
    assert kind.value_from_result(better, region) == "right"
    assert kind.answer_from(better, [region["value"]]) == "right"
    assert kind.evaluation(better) is Evaluation.SINGLE_CHOICE
    assert kind.values(better) == ("left", "right")
    assert kind.read(better, "middle", {}) == ([], "\"middle\" is neither 'left' nor 'right'")


@pytest.mark.parametrize(
    ("written", "side"), [("Left", "left"), ("answer_b", "right"), (" RIGHT. ", "right"), ("neither", "neither")]
)
def test_a_model_may_name_a_side_by_its_object_or_in_any_case(written: str, side: str) -> None:
    better = PAIRWISE.control("better")
    assert better is not None
    assert kind_of(better).reshape(better, written) == side
    assert kind_of(better).from_prose(better, [written]) == (None if side == "neither" else side)
