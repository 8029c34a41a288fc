"""``LLMInteractive`` in process: prompts, versions, concurrency, retries, time limits, inputs.

LLMs here are test doubles: LangChain's fake chat models, or ``FakeOpenAI`` (a local OpenAI-compatible HTTP
server) behind the real ``ChatOpenAI``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI
from pydantic import Field

from ls_langchain.predictor import LLMInteractive, Settings

from fake_openai import FakeOpenAI, Reply
from seed_configs import DIALOGUE_SFT, IMAGE_SUMMARIZATION, PROMPT_ENGINEERING, TEXT_CLASSIFICATION

QUIET = Settings()  # the defaults, whatever the environment of the test run says
# A config with nothing to fill but a response: answers are plain text, asked for with ``n``.
RESPONSE_ONLY = """<View><Text name="text" value="$text"/>
<TextArea name="prompt" toName="text"/><TextArea name="response" toName="text"/></View>"""


def context(prompt: str) -> dict[str, Any]:
    """What Label Studio sends in interactive mode: the annotator's draft with the prompt typed in."""
    return {"result": [{"from_name": "prompt", "to_name": "text", "type": "textarea", "value": {"text": [prompt]}}]}


def by_name(prediction: dict[str, Any]) -> dict[str, Any]:
    return {item["from_name"]: item["value"] for item in prediction["result"]}


def openai_model(server: FakeOpenAI, **kwargs: Any) -> ChatOpenAI:
    """The real ChatOpenAI pointed at the FakeOpenAI test double."""
    return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test-key", base_url=server.base_url, max_retries=0, **kwargs)


def test_interactive_prompt_fills_response_and_echoes_prompt() -> None:
    """Test double: FakeListChatModel answers with a fixed text."""
    backend = LLMInteractive(PROMPT_ENGINEERING, FakeListChatModel(responses=["A fine answer."]), base_settings=QUIET)
    [prediction] = backend.predict([{"id": 1, "data": {"text": "The sky is blue."}}], context("Explain"))
    assert by_name(prediction) == {"response": {"text": ["A fine answer."]}, "prompt": {"text": ["Explain"]}}
    assert prediction["model_version"].startswith("llm-")


def test_without_any_prompt_nothing_is_predicted() -> None:
    backend = LLMInteractive(PROMPT_ENGINEERING, FakeListChatModel(responses=["x"]), base_settings=QUIET)
    assert backend.predict([{"data": {"text": "t"}}]) == []


def test_the_internal_template_wraps_the_prompt(fake_openai: FakeOpenAI) -> None:
    backend = LLMInteractive(TEXT_CLASSIFICATION, openai_model(fake_openai), base_settings=QUIET)
    fake_openai.responder = lambda request: Reply.of_json({"answer": "yes", "sentiment": ["Sarcastic"]})
    backend.predict([{"data": {"text": "I love it when my computer crashes"}}], context("Is it {labels}?"))
    sent = fake_openai.requests[-1].json["messages"][0]["content"]
    assert sent == (
        "Source Text: I love it when my computer crashes\n\nTask Directive: Is it Sarcastic, Not Sarcastic?"
    )


@pytest.mark.parametrize("internal", [True, False])
def test_default_prompt_works_in_both_template_modes(internal: bool, fake_openai: FakeOpenAI) -> None:
    """Defect of the example: DEFAULT_PROMPT was ignored unless USE_INTERNAL_PROMPT_TEMPLATE=0."""
    settings = Settings(default_prompt="Summarize: {text}", use_internal_prompt_template=internal)
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=settings)
    [prediction] = backend.predict([{"data": {"text": "Long story."}}])
    assert by_name(prediction)["prompt"] == {"text": ["Summarize: {text}"]}
    sent = fake_openai.requests[-1].json["messages"][0]["content"]
    assert sent == (
        "Source Text: Long story.\n\nTask Directive: Summarize: Long story." if internal else "Summarize: Long story."
    )


def test_model_version_changes_with_prompt_and_settings() -> None:
    """Defect of the example: model_version never changed, so Label Studio never predicted again."""
    model = FakeListChatModel(responses=["x"])
    backend = LLMInteractive(PROMPT_ENGINEERING, model, base_settings=QUIET, prompt="First")
    first = backend.model_version()
    assert backend.model_version() == first
    assert backend.model_version("Second") != first
    warmer = LLMInteractive(PROMPT_ENGINEERING, model, base_settings=QUIET, prompt="First", temperature=1.0)
    assert warmer.model_version() != first
    assert LLMInteractive(TEXT_CLASSIFICATION, model, base_settings=QUIET, prompt="First").model_version() != first


def test_fit_keeps_the_submitted_prompt() -> None:
    backend = LLMInteractive(PROMPT_ENGINEERING, FakeListChatModel(responses=["x"]), base_settings=QUIET)
    annotation = {"annotation": context("New prompt")}
    assert backend.fit("ANNOTATION_CREATED", annotation) == "New prompt"
    assert backend.fit("ANNOTATION_UPDATED", annotation) is None  # unchanged
    assert backend.fit("PROJECT_UPDATED", {"annotation": context("Other")}) is None
    assert backend.current_prompt() == "New prompt"


def test_a_dialogue_is_sent_as_readable_lines(fake_openai: FakeOpenAI) -> None:
    """Defect of the example: Paragraphs were sent to the model as a JSON dump."""
    backend = LLMInteractive(DIALOGUE_SFT, openai_model(fake_openai), base_settings=QUIET)
    dialogue = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "Tell me a joke."},
    ]
    backend.predict([{"data": {"dialogue": dialogue}}], context("Answer the last message"))
    sent = fake_openai.requests[-1].json["messages"][0]["content"]
    assert (
        "user: What is the capital of France?\nassistant: The capital of France is Paris.\nuser: Tell me a joke."
        in sent
    )
    assert '"role"' not in sent


def test_num_responses_asks_openai_once_with_n(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: [Reply(content="one"), Reply(content="two"), Reply(content="three")]
    backend = LLMInteractive(RESPONSE_ONLY, openai_model(fake_openai), base_settings=QUIET, num_responses=3)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert by_name(prediction)["response"] == {"text": ["one", "two", "three"]}
    assert [r.json.get("n") for r in fake_openai.requests] == [3]
    # one request, so its usage counts once: FakeOpenAI counts words (prompt: 6, answers: 3 x 1)
    assert prediction["meta"]["input_tokens"] == 6
    assert prediction["meta"]["output_tokens"] == 3


def test_num_responses_from_a_server_that_ignores_n_are_topped_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: [Reply(content=f"answer {len(fake_openai.requests)}")]
    backend = LLMInteractive(RESPONSE_ONLY, openai_model(fake_openai), base_settings=QUIET, num_responses=3)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert len(by_name(prediction)["response"]["text"]) == 3
    assert [r.json.get("n") for r in fake_openai.requests] == [3, None, None]


def test_num_responses_with_a_model_without_n_makes_several_calls() -> None:
    """Test double: GenericFakeChatModel yields its messages in turn."""
    model = GenericFakeChatModel(messages=iter([AIMessage("a"), AIMessage("b")]))
    backend = LLMInteractive(PROMPT_ENGINEERING, model, base_settings=QUIET, num_responses=2)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert sorted(by_name(prediction)["response"]["text"]) == ["a", "b"]


def test_choices_come_from_structured_output_when_the_model_supports_it(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = lambda request: Reply.of_json({"answer": "A receipt for food.", "category": "Groceries"})
    backend = LLMInteractive(IMAGE_SUMMARIZATION, openai_model(fake_openai), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"image": "data:image/png;base64,iVBORw0KGgo="}}], context("Classify"))
    assert by_name(prediction)["category"] == {"choices": ["Groceries"]}
    assert by_name(prediction)["summarization-response"] == {"text": ["A receipt for food."]}
    assert fake_openai.requests[-1].json["response_format"]["type"] == "json_schema"


def test_without_structured_output_the_model_is_asked_for_json_and_its_answer_validated() -> None:
    """Test double: FakeListChatModel has no structured output, so the prompt asks for JSON and the text is parsed."""
    answer = '```json\n{"answer": "It is.", "sentiment": ["Sarcastic"]}\n```'
    backend = LLMInteractive(TEXT_CLASSIFICATION, FakeListChatModel(responses=[answer]), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Classify"))
    assert by_name(prediction)["sentiment"] == {"choices": ["Sarcastic"]}
    assert by_name(prediction)["response"] == {"text": ["It is."]}


@pytest.mark.parametrize(
    ("reply", "chosen"),
    [("Sarcastic.", ["Sarcastic"]), ("  not sarcastic  ", ["Not Sarcastic"]), ("Sarcastic\nNot Sarcastic", None)],
)
def test_without_structured_output_a_reply_that_is_a_label_selects_it(reply: str, chosen: list[str] | None) -> None:
    """Test double: FakeListChatModel answers with the label alone, as local models without JSON output do (the
    llm_interactive example fills it too). One label per line fills a multiple choice."""
    backend = LLMInteractive(TEXT_CLASSIFICATION, FakeListChatModel(responses=[reply]), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Classify"))
    assert by_name(prediction)["response"] == {"text": [reply]}
    assert by_name(prediction)["sentiment"] == {"choices": chosen or ["Sarcastic", "Not Sarcastic"]}
    assert "unfilled" not in prediction.get("meta", {})


def test_a_prose_answer_that_is_not_a_label_still_guesses_nothing() -> None:
    """Test double: FakeListChatModel answers in prose that mentions a label: no guess, and the reason says so."""
    backend = LLMInteractive(
        TEXT_CLASSIFICATION, FakeListChatModel(responses=["I think it is Sarcastic."]), base_settings=QUIET
    )
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Classify"))
    assert "sentiment" not in by_name(prediction)
    assert prediction["meta"]["unfilled"] == {"sentiment": "the model's answer was not a JSON object"}


def test_json_in_neighbouring_shapes_is_read_as_meant(fake_openai: FakeOpenAI) -> None:
    """A taxonomy path as a list of steps, a rating as a string and the answer wrapped as {"text": ...} fill their
    controls; an unknown path is still refused."""
    fake_openai.responder = lambda request: Reply.of_json(
        {
            "answer": {"text": ["Plausible."]},
            "evals": [["Correctness", "Correct"], ["Relevance", "Nowhere"]],
            "rating": "4",
        }
    )
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "Water boils at 100 C."}}], context("Judge"))
    values = by_name(prediction)
    assert values["response"] == {"text": ["Plausible."]}
    assert values["rating"] == {"rating": 4}
    assert "evals" not in values
    assert "'Relevance: Nowhere' not among its category paths" in prediction["meta"]["unfilled"]["evals"]

    fake_openai.responder = lambda request: Reply.of_json(
        {"response": "Sound.", "evals": [["Correctness", "Correct"]], "rating": 5}
    )
    [prediction] = backend.predict([{"data": {"text": "Water boils at 100 C."}}], context("Judge"))
    values = by_name(prediction)
    assert values["response"] == {"text": ["Sound."]}
    assert values["evals"] == {"taxonomy": [["Correctness", "Correct"]]}


def test_one_failing_task_does_not_fail_the_batch(fake_openai: FakeOpenAI) -> None:
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    good, bad = backend.predict([{"data": {"text": "fine"}}, {"data": {"other": "no text field"}}], context("Go"))
    assert by_name(good)["response"]["text"][0].startswith("offline reply to:")
    assert bad["result"] == []
    assert "no 'text' field" in bad["error"]


def test_transient_errors_are_retried_briefly(fake_openai: FakeOpenAI) -> None:
    """Defect of the example: it retried any error six times, sleeping 5-10 s each time."""
    fake_openai.fail_next(503, count=2)
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    started = time.monotonic()
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert "error" not in prediction
    assert len(fake_openai.requests) == 3
    assert time.monotonic() - started < 5


def test_a_permanent_error_is_not_retried_and_keeps_its_cause(fake_openai: FakeOpenAI) -> None:
    """Defect of the example: the cause hid behind a RetryError."""
    fake_openai.fail_next(401)
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert len(fake_openai.requests) == 1
    assert "AuthenticationError: Error code: 401 - injected failure" in prediction["error"]
    assert "sk-test-key" not in prediction["error"]


def test_a_slow_model_call_times_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 3.0
    backend = LLMInteractive(
        PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET, llm_timeout=0.3, llm_max_attempts=1
    )
    started = time.monotonic()
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Go"))
    assert time.monotonic() - started < 2
    assert "did not answer within LLM_TIMEOUT=0.3s" in prediction["error"]


def test_a_batch_ends_within_predict_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 0.6
    backend = LLMInteractive(
        PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET, max_concurrency=1, predict_timeout=1.5
    )
    started = time.monotonic()
    predictions = backend.predict([{"data": {"text": str(i)}} for i in range(6)], context("Go"))
    assert time.monotonic() - started < 2.5
    assert len(predictions) == 6
    assert 1 <= sum("error" not in p for p in predictions) <= 2
    assert any("PREDICT_TIMEOUT" in p.get("error", "") or "LLM_TIMEOUT" in p.get("error", "") for p in predictions)


def test_tasks_run_concurrently_up_to_max_concurrency(fake_openai: FakeOpenAI) -> None:
    """Defect of the example: one call per task, one after the other."""
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow(request: dict[str, Any]) -> str:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.3)
        with lock:
            in_flight[0] -= 1
        return "done"

    fake_openai.responder = slow
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET, max_concurrency=3)
    started = time.monotonic()
    predictions = backend.predict([{"data": {"text": str(i)}} for i in range(9)], context("Go"))
    elapsed = time.monotonic() - started
    assert all("error" not in p for p in predictions)
    assert peak[0] == 3
    assert elapsed < 9 * 0.3 * 0.6  # well under the sequential time


class Recorder(BaseCallbackHandler):
    """Test double for a tracing callback handler: it remembers which model calls it saw."""

    def __init__(self) -> None:
        self.chat_model_starts = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.chat_model_starts += 1


def test_model_calls_do_not_inherit_the_callers_callbacks() -> None:
    """Test double: FakeListChatModel."""
    recorder = Recorder()
    model = FakeListChatModel(responses=["x"])
    backend = LLMInteractive(PROMPT_ENGINEERING, model, base_settings=QUIET)
    chain = RunnableLambda(lambda tasks: backend.predict(tasks, context("Go")))
    [prediction] = chain.invoke([{"data": {"text": "t"}}], config={"callbacks": [recorder]})
    assert "error" not in prediction
    assert recorder.chat_model_starts == 0
    RunnableLambda(lambda text: model.invoke(text)).invoke("control", config={"callbacks": [recorder]})
    assert recorder.chat_model_starts == 1  # the recorder does see calls made in the caller's context


def test_link_local_addresses_are_not_fetched(tmp_path: Path) -> None:
    """Test double: FakeListChatModel (never reached: the image is refused first)."""
    backend = LLMInteractive(IMAGE_SUMMARIZATION, FakeListChatModel(responses=["x"]), base_settings=QUIET)
    [metadata] = backend.predict([{"data": {"image": "http://169.254.169.254/latest/meta-data/"}}], context("Go"))
    assert "link-local or cloud-metadata" in metadata["error"]
    [local_file] = backend.predict([{"data": {"image": f"file://{tmp_path}/x.png"}}], context("Go"))
    assert "only http(s) URLs" in local_file["error"]


def test_only_the_source_field_is_fetched(fake_openai: FakeOpenAI) -> None:
    """Defect of the example: every URL-looking field of a task was downloaded."""
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    task = {"data": {"text": "Plain text.", "source": f"{fake_openai.url}/v1/models"}}
    [prediction] = backend.predict([task], context("Go"))
    assert "error" not in prediction
    assert [r.path for r in fake_openai.requests] == ["/v1/chat/completions"]


def test_a_prose_answer_to_a_structured_request_is_shown_but_fills_no_control(fake_openai: FakeOpenAI) -> None:
    """A server that ignores response_format answers in prose: the text is kept, no label is guessed from it."""
    fake_openai.responder = lambda request: "That is Sarcastic, clearly."
    backend = LLMInteractive(TEXT_CLASSIFICATION, openai_model(fake_openai), base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Classify"))
    assert "sentiment" not in by_name(prediction)
    assert by_name(prediction)["response"] == {"text": ["That is Sarcastic, clearly."]}
    assert prediction["meta"]["unfilled"] == {"sentiment": "the model's answer was not a JSON object"}


def test_consecutive_synchronous_batches_share_one_live_event_loop(fake_openai: FakeOpenAI) -> None:
    """A new loop per call left ChatOpenAI's cached async client on a closed loop: 'Event loop is closed'."""
    fake_openai.delay = 0.05
    for _ in range(3):
        backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET, max_concurrency=4)
        predictions = backend.predict([{"data": {"text": str(i)}} for i in range(8)], context("Go"))
        assert [p.get("error") for p in predictions] == [None] * 8


class _StructuredDouble(FakeListChatModel):
    """Test double: a chat model of another provider whose ``with_structured_output`` answers like LangChain's
    (``{"raw": AIMessage, "parsed": dict}``), recording the schema it was given."""

    schemas: list[Any] = Field(default_factory=list)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        self.schemas.append((schema, kwargs))
        raw = AIMessage(
            '{"answer": "Yes.", "sentiment": ["Sarcastic"]}',
            usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
        )
        return RunnableLambda(lambda messages: {"raw": raw, "parsed": {"answer": "Yes.", "sentiment": ["Sarcastic"]}})


def test_other_providers_answer_through_with_structured_output_and_their_usage_is_kept() -> None:
    model = _StructuredDouble(responses=["never used"])
    backend = LLMInteractive(TEXT_CLASSIFICATION, model, base_settings=QUIET)
    [prediction] = backend.predict([{"data": {"text": "t"}}], context("Classify"))
    assert by_name(prediction)["sentiment"] == {"choices": ["Sarcastic"]}
    assert by_name(prediction)["response"] == {"text": ["Yes."]}
    assert prediction["meta"] == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    [(schema, kwargs)] = model.schemas
    assert kwargs == {"include_raw": True}
    assert schema["properties"]["sentiment"]["items"]["enum"] == ["Sarcastic", "Not Sarcastic"]


def test_apredict_from_the_callers_own_loops_then_predict(fake_openai: FakeOpenAI) -> None:
    """``asyncio.run`` twice, then the synchronous API: langchain-openai's cached async client must not be bound to
    the first caller's closed loop."""
    backend = LLMInteractive(PROMPT_ENGINEERING, openai_model(fake_openai), base_settings=QUIET)
    tasks = [{"id": 1, "data": {"text": "The sky is blue."}}]
    results = [asyncio.run(backend.apredict(tasks, context("Explain"))) for _ in range(2)]
    results.append(backend.predict(tasks, context("Explain")))
    for [prediction] in results:
        assert "error" not in prediction, prediction.get("error")
        assert "response" in by_name(prediction)
