"""``OPENAI_PROVIDER=offline``: the demo double a user can name (``make demo`` serves it), through the backend.

``OfflineChatModel`` is itself a test and demo double, not a model; the tests check that it fills every control
with a valid value, says it is offline, repeats the example it is shown, and makes no network call.
"""

from __future__ import annotations

from typing import Any

from ls_langchain.predictor import LLMInteractive, Settings
from ls_langchain.predictor.examples import Example, ExamplePool
from ls_langchain.predictor.models import build_chat_model
from ls_langchain.predictor.offline import OFFLINE_ANSWER, OfflineChatModel

from seed_configs import ALL_CONTROLS, TEXT_CLASSIFICATION
from serving import connections_recorded

OFFLINE = Settings(openai_provider="offline")
TASK = {"id": 7, "data": {"text": "Oh great, another Monday. Tell Anna in Paris."}}


def filled(prediction: dict[str, Any]) -> dict[str, Any]:
    return {item["from_name"]: item["value"] for item in prediction["result"]}


def test_offline_provider_is_the_double_and_needs_no_key() -> None:
    assert isinstance(build_chat_model(OFFLINE), OfflineChatModel)


def test_offline_model_fills_each_control_with_its_first_value_and_says_it_is_offline() -> None:
    backend = LLMInteractive(ALL_CONTROLS, base_settings=OFFLINE.merged({"DEFAULT_PROMPT": "Label it."}))
    with connections_recorded() as attempts:
        [prediction] = backend.predict([TASK])
    assert attempts == []
    values = filled(prediction)
    assert values["summary"] == {"text": [OFFLINE_ANSWER]}
    assert values["tone"] == {"choices": ["Positive"]}
    assert values["topics"] == {"choices": ["Travel"]}
    assert values["quality"] == {"rating": 1}
    assert values["year"] == {"number": 1900}
    assert "entities" not in values  # no span is guessed
    assert "error" not in prediction and "unfilled" not in prediction.get("meta", {})
    assert [filled(again) for again in backend.predict([TASK])] == [values]  # the same answer to the same task


def test_offline_model_repeats_the_most_similar_example_shown() -> None:
    def example(task_id: int, text: str, label: str) -> Example:
        answer = {"answer": f"Because: {label}", "sentiment": [label]}
        return Example(task_id, None, text, {"text": text}, answer, 0.0)

    pool = ExamplePool(
        [
            example(1, "Wonderful, another Monday, just great.", "Sarcastic"),
            example(2, "The cat sleeps.", "Not Sarcastic"),
        ]
    )
    settings = OFFLINE.merged({"DEFAULT_PROMPT": "Sarcastic?", "FEW_SHOT": 2})
    backend = LLMInteractive(TEXT_CLASSIFICATION, examples=pool, base_settings=settings)
    [sarcastic] = backend.predict([TASK])
    assert filled(sarcastic)["sentiment"] == {"choices": ["Sarcastic"]}
    assert filled(sarcastic)["response"] == {"text": ["Because: Sarcastic"]}
    [calm] = backend.predict([{"id": 8, "data": {"text": "The cat sleeps on the sofa."}}])
    assert filled(calm)["sentiment"] == {"choices": ["Not Sarcastic"]}
