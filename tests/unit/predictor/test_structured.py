"""The answer schema of a config's controls, and answers validated into regions (or reasons), without a model."""

from __future__ import annotations

from typing import Any

import pytest

from ls_langchain.errors import ConfigurationError
from ls_langchain.labeling import taxonomy_paths
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.structured import ANSWER_KEY, answer_schema, json_in_text, read_answer
from ls_langchain.predictor.usage import Usage, parse_prices, price_of

from seed_configs import ALL_CONTROLS, PROMPT_ENGINEERING

TEXT = "Anna flew from Paris to Rome. In Rome, Anna ate. Parisians stay home."
LAYOUT = read_layout(ALL_CONTROLS, "prompt")
VALID = {
    ANSWER_KEY: "A trip.",
    "entities": [{"label": "Person", "text": "Anna"}, {"label": "City", "text": "Rome"}],
    "tone": "Positive",
    "topics": ["Food", "Travel"],
    "kind": ["Story / Memoir", "Note"],
    "quality": 3,
    "year": 1999.5,
}


def verdict_of(**changes: Any) -> tuple[dict[str, Any], dict[str, str]]:
    answer = {**VALID, **changes}
    verdict = read_answer(LAYOUT.controls, answer, {"text": TEXT})
    by_name: dict[str, Any] = {}
    for region in verdict.regions:
        by_name.setdefault(region["from_name"], []).append(region["value"])
    return by_name, verdict.reasons


def test_the_schema_has_one_property_per_control_and_the_answer() -> None:
    schema = answer_schema(LAYOUT.controls, with_answer=True)
    properties = schema["properties"]
    assert list(properties) == [ANSWER_KEY, "entities", "tone", "topics", "kind", "quality", "year"]
    assert schema["required"] == list(properties)
    assert properties["tone"]["anyOf"][0]["enum"] == ["Positive", "Negative"]
    assert properties["topics"]["items"]["enum"] == ["Travel", "Food", "Work"]
    assert properties["kind"]["items"]["enum"] == ["Story", "Story / Fiction", "Story / Memoir", "Note"]
    assert properties["quality"]["anyOf"][0] | {"description": None} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "description": None,
    }
    assert (properties["year"]["anyOf"][0]["minimum"], properties["year"]["anyOf"][0]["maximum"]) == (1900, 2100)
    assert properties["entities"]["items"]["properties"]["label"]["enum"] == ["Person", "City"]
    assert ANSWER_KEY not in answer_schema(LAYOUT.controls, with_answer=False)["properties"]


def test_the_seed_taxonomy_offers_its_leaf_paths_only() -> None:
    layout = read_layout(PROMPT_ENGINEERING, "prompt")
    evals = layout.config.control("evals")
    assert evals is not None
    paths = taxonomy_paths(evals)
    assert len(paths) == 16
    assert paths["Correctness: Contains hallucinations"] == ("Correctness", "Contains hallucinations")
    assert "Correctness" not in paths  # leafsOnly="true"


def test_a_valid_answer_fills_every_control() -> None:
    by_name, reasons = verdict_of()
    assert reasons == {}
    assert by_name["tone"] == [{"choices": ["Positive"]}]
    assert by_name["topics"] == [{"choices": ["Travel", "Food"]}]  # in the config's order
    assert by_name["kind"] == [{"taxonomy": [["Story", "Memoir"], ["Note"]]}]
    assert by_name["quality"] == [{"rating": 3}]
    assert by_name["year"] == [{"number": 1999.5}]


def test_label_spans_are_located_in_the_text_and_their_offsets_match_it() -> None:
    by_name, _ = verdict_of()
    spans = sorted((v["start"], v["end"], v["labels"][0]) for v in by_name["entities"])
    # every occurrence of each quote; "Paris" inside "Parisians" is not one
    assert spans == [(0, 4, "Person"), (24, 28, "City"), (33, 37, "City"), (39, 43, "Person")]
    for value in by_name["entities"]:
        assert TEXT[value["start"] : value["end"]] == value["text"]


def test_a_quote_found_only_in_another_case_gets_the_texts_own_spelling() -> None:
    by_name, reasons = verdict_of(entities=[{"label": "City", "text": "PARIS"}])
    assert [(v["start"], v["end"], v["text"]) for v in by_name["entities"]] == [(15, 20, "Paris")]
    assert reasons == {}


def test_a_quote_not_in_the_text_is_no_region_and_a_reason() -> None:
    by_name, reasons = verdict_of(entities=[{"label": "City", "text": "Berlin"}, {"label": "Person", "text": "Anna"}])
    assert {v["text"] for v in by_name["entities"]} == {"Anna"}
    assert reasons == {"entities": "'Berlin' does not occur in the text"}


@pytest.mark.parametrize(
    ("control", "value", "reason"),
    [
        ("tone", "Neutral", '"Neutral" is not one of its labels'),
        ("topics", ["Food", "Sports"], "'Sports' not among its labels"),
        ("topics", "Food", 'expected a list of labels, got "Food"'),
        ("kind", ["Fiction"], "'Fiction' not among its category paths"),
        ("quality", 5, "5 is not a whole rating from 1 to 4"),
        ("quality", 2.5, "2.5 is not a whole rating from 1 to 4"),
        ("quality", True, "true is not a whole rating from 1 to 4"),
        ("year", 1850, "1850 is not a number within [1900, 2100]"),
        ("year", "1999", '"1999" is not a number within [1900, 2100]'),
        (
            "entities",
            [{"label": "Place", "text": "Rome"}],
            '{"label": "Place", "text": "Rome"} is not a label and a quote',
        ),
    ],
)
def test_a_value_that_does_not_validate_is_no_region_and_a_reason(control: str, value: Any, reason: str) -> None:
    by_name, reasons = verdict_of(**{control: value})
    assert control not in by_name
    assert reasons == {control: reason}
    assert set(by_name) == {"entities", "tone", "topics", "kind", "quality", "year"} - {control}


def test_null_and_empty_mean_nothing_applies_without_a_reason() -> None:
    by_name, reasons = verdict_of(tone=None, topics=[], kind=[], quality=None, year=None, entities=[])
    assert by_name == {}
    assert reasons == {}


def test_a_missing_control_is_a_reason() -> None:
    answer = {key: value for key, value in VALID.items() if key != "quality"}
    verdict = read_answer(LAYOUT.controls, answer, {"text": TEXT})
    assert verdict.reasons == {"quality": "the answer has no value for it"}


def test_json_is_read_from_a_fenced_or_chatty_answer_and_prose_is_not() -> None:
    assert json_in_text('Sure:\n```json\n{"tone": "Positive"}\n```') == {"tone": "Positive"}
    assert json_in_text("The tone is positive.") is None
    assert json_in_text('{"tone": "Positive"') is None
    assert json_in_text("[1, 2]") is None


def test_cost_from_the_built_in_and_configured_prices() -> None:
    """Test double: AIMessage objects built by hand, as a provider would return them."""
    from langchain_core.messages import AIMessage

    reply = AIMessage(
        "x",
        usage_metadata={"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500},
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18"},
    )
    usage = Usage.of([reply, AIMessage("no usage")])
    assert usage is not None
    assert usage.as_meta({}) == {
        "input_tokens": 1000,
        "output_tokens": 500,
        "total_tokens": 1500,
        "model_name": "gpt-4o-mini-2024-07-18",
        "cost_usd": pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6),
    }
    mine = parse_prices('{"gpt-4o-mini": [1, 2], "local-llama": [0, 0]}')
    assert usage.cost_usd(mine) == pytest.approx((1000 * 1 + 500 * 2) / 1e6)
    assert price_of("local-llama", mine) == (0.0, 0.0)
    assert price_of("unknown-model", mine) is None
    assert "cost_usd" not in Usage(10, 5, "unknown-model").as_meta(mine)
    assert Usage.of([AIMessage("none")]) is None


@pytest.mark.parametrize("text", ["[1, 2]", '{"m": 3}', '{"m": [1]}', "not json"])
def test_malformed_prices_are_one_line(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"MODEL_PRICES must be a JSON object of \[input, output\]"):
        parse_prices(text)
