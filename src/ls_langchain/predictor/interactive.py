"""``LLMInteractive``: Label Studio predictions from a LangChain chat model, for one labeling config.

The tasks of a batch run concurrently (at most ``MAX_CONCURRENCY`` at once); each model call has ``LLM_TIMEOUT``
and the whole batch ``PREDICT_TIMEOUT``, so that an answer reaches Label Studio before its own 100 s limit.
Transient errors (timeouts, connection errors, HTTP 408/409/429/5xx) are retried briefly; the error a task ends
with keeps its cause. One failing task yields a prediction with an ``error`` and no result; the others go on.
The model's calls run outside any caller's LangChain context, so a tracing callback handler never records them.
With ``FEW_SHOT=k``, each task's request first shows the k examples of the pool most like it (``examples``), as
earlier turns of the conversation: the prompt rendered for the example's task, then the person's answer as JSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from ls_langchain.errors import (
    LLMCallError,
    LSLangChainError,
    PredictionError,
    PromptTemplateError,
    TaskInputError,
)
from ls_langchain.predictor.examples import ExamplePool
from ls_langchain.predictor.inputs import MediaLoader, template_fields
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.lenient import answer_text, labels_in_prose, reshape
from ls_langchain.predictor.models import build_chat_model, scrub
from ls_langchain.predictor.outputs import prediction, regions
from ls_langchain.predictor.settings import Settings
from ls_langchain.predictor.structured import ANSWER_KEY, Verdict, answer_schema, json_in_text, read_answer
from ls_langchain.predictor.templates import check_template, render
from ls_langchain.predictor.usage import Usage, parse_prices

__all__ = ["TRAINING_EVENTS", "LLMInteractive", "background_loop"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: The webhook events whose annotations carry a prompt worth keeping.
TRAINING_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
_TRANSIENT_STATUS = {408, 409, 429}
_TRANSIENT_NAMES = {"APIConnectionError", "APITimeoutError", "TimeoutError", "ConnectError", "ReadTimeout"}
_JSON_INSTRUCTIONS = "Answer with one JSON object and nothing else. It must match this JSON schema:\n"


def _is_transient(exc: BaseException) -> bool:
    """Whether the same call may well succeed in a moment."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS or status >= 500
    return isinstance(exc, TimeoutError | ConnectionError) or any(
        cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__
    )


class _StopNear(stop_base):
    """Stop retrying when less than half a second is left before the batch's deadline (event loop time)."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return asyncio.get_running_loop().time() >= self._deadline - 0.5


_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The event loop of the synchronous API: one per process, alive in a daemon thread.

    Providers cache their async HTTP clients across model instances; a new loop per call (``asyncio.run``) would
    leave those clients bound to a closed loop ("Event loop is closed" on the next batch).
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid() or _loop[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="ls-langchain-predictor", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def _without_own_handlers(model: BaseChatModel) -> BaseChatModel:
    """``model`` without this package's callback handlers, so the backend never logs its own calls."""
    callbacks = model.callbacks
    if isinstance(callbacks, list) and any(type(h).__module__.startswith("ls_langchain.") for h in callbacks):
        kept = [h for h in callbacks if not type(h).__module__.startswith("ls_langchain.")]
        return model.model_copy(update={"callbacks": kept})
    return model


def _prompt_in(result: Any, prompt_name: str) -> str | None:
    """The text typed into the prompt TextArea, from an annotation's or a context's ``result`` list."""
    for item in result if isinstance(result, list) else ():
        if isinstance(item, Mapping) and item.get("from_name") == prompt_name:
            text = (item.get("value") or {}).get("text")
            lines = [text] if isinstance(text, str) else [str(t) for t in text or ()]
            return "\n".join(lines).strip() or None
    return None


def _text(message: Any) -> str:
    """The text of a model reply (empty for none)."""
    return str(getattr(message, "text", "") or "") if message is not None else ""


class LLMInteractive:
    """Prefills the TextAreas and the other controls of ``label_config`` from a chat model, given a prompt.

    ``chat_model`` defaults to the one ``OPENAI_PROVIDER`` names; ``settings`` (upper- or lower-case names) override
    the environment. ``prompt`` is the prompt submitted last (see ``fit``); without one, ``DEFAULT_PROMPT`` is used.
    ``examples`` is the published snapshot of the project's few-shot examples, used when ``FEW_SHOT`` is above 0.
    """

    def __init__(
        self,
        label_config: str,
        chat_model: BaseChatModel | None = None,
        *,
        prompt: str | None = None,
        examples: ExamplePool | None = None,
        base_settings: Settings | None = None,
        **settings: Any,
    ) -> None:
        base = base_settings if base_settings is not None else Settings.from_env()
        self.settings = base.merged(settings) if settings else base
        self.label_config = label_config
        self.default_prompt = self.settings.default_prompt or None
        self.layout = read_layout(
            label_config, self.settings.prompt_prefix, has_default_prompt=bool(self.default_prompt or prompt)
        )
        check_template(self.settings.prompt_template, what="PROMPT_TEMPLATE")
        if self.default_prompt:
            check_template(self.default_prompt, what="DEFAULT_PROMPT")
        self.chat_model = _without_own_handlers(chat_model or build_chat_model(self.settings))
        self.prompt = prompt
        self.examples = examples
        self._loader = MediaLoader(self.settings)
        self._prices = parse_prices(self.settings.model_prices)
        layout = self.layout
        self.schema = answer_schema(layout.controls, with_answer=bool(layout.responses)) if layout.controls else None
        self._structured = self._structured_model()

    def _structured_model(self) -> Runnable[Any, Any] | None:
        """The model bound to the answer schema, when the config has controls and the model supports it.

        OpenAI-compatible models get the schema as their ``response_format`` and answer with an ``AIMessage`` whose
        JSON is read here: LangChain's structured-output wrapper costs about 4 ms of CPU per call (runnable layers,
        the SDK's parse path), which is what held 8 concurrent calls back from the ideal. Other models answer
        through ``with_structured_output(include_raw=True)``.
        """
        if self.schema is None:
            return None
        if any(cls.__name__ == "BaseChatOpenAI" for cls in type(self.chat_model).__mro__):
            schema = {"name": self.schema["title"], "schema": self.schema, "strict": False}
            return self.chat_model.bind(response_format={"type": "json_schema", "json_schema": schema})
        try:
            return self.chat_model.with_structured_output(self.schema, include_raw=True)
        except NotImplementedError:  # such a model is asked for JSON in the prompt instead
            return None

    # prompts and versions

    def current_prompt(self, context: Mapping[str, Any] | None = None) -> str | None:
        """The prompt of the interactive context, else the one submitted last, else ``DEFAULT_PROMPT``."""
        if context:
            from_context = _prompt_in(context.get("result"), self.layout.prompt.name) if self.layout.prompt else None
            if from_context:
                return from_context
        return self.prompt or self.default_prompt

    def model_version(self, prompt: str | None = None) -> str:
        """A short hash of the prompt, the config, the model and its settings, and (with ``FEW_SHOT``) the examples
        snapshot: it changes when any does."""
        model = self.chat_model
        identity: dict[str, Any] = {
            "prompt": prompt if prompt is not None else self.current_prompt(),
            "settings": self.settings.fingerprint(),
            "label_config": self.label_config,
            "model": [type(model).__name__, getattr(model, "_identifying_params", {})],
        }
        if self.settings.few_shot:  # without few-shot, versions stay what they were before few-shot existed
            pool = self.examples.version if self.examples is not None else "pool-empty"
            identity["few_shot"] = [self.settings.few_shot, pool]
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
        return f"llm-{digest[:12]}"

    def fit(self, event: str, data: Mapping[str, Any]) -> str | None:
        """Keep the prompt of a submitted annotation; returns it when it is new, else None."""
        if event not in TRAINING_EVENTS or self.layout.prompt is None:
            return None
        annotation = data.get("annotation")
        prompt = _prompt_in(
            annotation.get("result") if isinstance(annotation, Mapping) else None, self.layout.prompt.name
        )
        if not prompt or prompt == self.prompt:
            return None
        self.prompt = prompt
        return prompt

    # predictions

    def predict(
        self, tasks: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One Label Studio prediction per task (none at all when there is no prompt yet)."""
        return asyncio.run_coroutine_threadsafe(self._apredict(tasks, context), background_loop()).result()

    async def apredict(
        self, tasks: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """``predict`` for callers that already run an event loop; ``PREDICT_TIMEOUT`` bounds the whole batch.

        The model's calls run on the backend's own loop whatever loop awaits this: providers cache their async
        HTTP clients per process, so calls from a caller's short-lived loops (``asyncio.run`` twice, two test
        clients in a row) would find those clients bound to a closed loop.
        """
        loop = background_loop()
        if asyncio.get_running_loop() is loop:
            return await self._apredict(tasks, context)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._apredict(tasks, context), loop))

    async def _apredict(
        self, tasks: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None
    ) -> list[dict[str, Any]]:
        prompt = self.current_prompt(context)
        if not prompt:
            return []
        version = self.model_version(prompt)
        deadline = asyncio.get_running_loop().time() + self.settings.predict_timeout
        slots = asyncio.Semaphore(self.settings.max_concurrency)

        async def one(task: Mapping[str, Any]) -> dict[str, Any]:
            async with slots:
                return await self.apredict_task(task, prompt, version, deadline=deadline)

        # A fresh context: no caller's callbacks or tracing hooks are inherited by the model's calls.
        isolated = contextvars.Context()
        futures = [isolated.run(asyncio.ensure_future, one(task)) for task in tasks]
        return list(await asyncio.gather(*futures))

    async def apredict_task(
        self, task: Mapping[str, Any], prompt: str, version: str, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """One task's prediction; a failure is a prediction with an ``error`` and no result, never an exception.

        ``deadline`` (event loop time) defaults to ``PREDICT_TIMEOUT`` from now.
        """
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + self.settings.predict_timeout
        try:
            # The deadline bounds the whole task (downloads too), not only the model calls.
            return await asyncio.wait_for(self._predict_task(task, prompt, version, deadline), deadline - loop.time())
        except TimeoutError:
            late = f"Not predicted within PREDICT_TIMEOUT={self.settings.predict_timeout:g}s."
            return prediction([], version, error=late, error_status=504)
        except (TaskInputError, PromptTemplateError) as exc:  # the request's own data or prompt cannot be used
            return prediction([], version, error=str(exc), error_status=422)
        except PredictionError as exc:  # the model provider failed
            return prediction([], version, error=str(exc), error_status=502)
        except Exception as exc:  # a bug or an odd model must not take the batch down
            logger.exception("predicting task %s failed", task.get("id"))
            message = scrub(f"{type(exc).__name__}: {exc}", self.settings.secrets()).splitlines()[0]
            return prediction([], version, error=message[:300], error_status=500)

    async def _predict_task(
        self, task: Mapping[str, Any], prompt: str, version: str, deadline: float
    ) -> dict[str, Any]:
        layout = self.layout
        data = task.get("data") or {}
        if not isinstance(data, Mapping):
            raise TaskInputError(
                f'The task\'s data is a {type(data).__name__}, not an object: send data as {{"field": value, ...}}.'
            )
        source_text = await self._loader.source_text(layout.source, data)
        image = await self._loader.image_block(layout.source, data)
        text = self._user_text(prompt, data, source_text)
        if self.schema is not None and self._structured is None:
            text += "\n\n" + _JSON_INSTRUCTIONS + json.dumps(self.schema)
        message = HumanMessage(content=[{"type": "text", "text": text}, image] if image else text)
        messages = [*self.few_shot_turns(task.get("id"), prompt, source_text), message]
        try:
            answers, parsed, first_text, replies = await self._ask(messages, deadline)
        except LSLangChainError:
            raise
        except TimeoutError as exc:
            raise LLMCallError(
                f"The chat model did not answer within LLM_TIMEOUT={self.settings.llm_timeout:g}s "
                f"({self.settings.llm_max_attempts} attempts at most)."
            ) from exc
        except Exception as exc:
            detail = scrub(str(exc), self.settings.secrets()).strip().splitlines()
            raise LLMCallError(
                f"The chat model failed: {type(exc).__name__}{': ' + detail[0][:300] if detail else ''}"
            ) from exc
        verdict = self._verdict(parsed, first_text, data, source_text)
        usage = Usage.of(replies, self.settings.openai_model)
        return prediction(
            regions(layout.prompt, prompt, layout.responses, answers, verdict.regions),
            version,
            usage=usage.as_meta(self._prices) if usage else None,
            unfilled=verdict.reasons,
        )

    def _user_text(self, prompt: str, data: Mapping[str, Any], source_text: str) -> str:
        """The prompt rendered for one task's data (inside ``PROMPT_TEMPLATE`` when the internal template is on)."""
        layout = self.layout
        labels = [label for tag in layout.controls if tag.tag in ("Choices", "Labels") for label in tag.labels]
        fields = template_fields(layout.source, data, source_text, labels)
        text = render(prompt, fields)
        if self.settings.use_internal_prompt_template:
            text = render(self.settings.prompt_template, {**fields, "prompt": text}, what="PROMPT_TEMPLATE")
        return text

    def few_shot_turns(self, task_id: Any, prompt: str, source_text: str) -> list[BaseMessage]:
        """The ``FEW_SHOT`` examples most like ``source_text`` (never task ``task_id`` itself) as conversation turns:
        the prompt rendered for the example's task, then the person's answer, in the JSON the model answers in (its
        text alone when the config has no control besides the response)."""
        if not self.settings.few_shot or self.examples is None:
            return []
        turns: list[BaseMessage] = []
        for example in self.examples.nearest(source_text, self.settings.few_shot, exclude_task=task_id):
            try:
                user = self._user_text(prompt, example.data, example.input)
            except PromptTemplateError:  # the prompt names a field this example's task lacks
                continue
            if self.schema is None:
                reply = str(example.answer.get(ANSWER_KEY) or "")
            else:
                wanted = self.schema["properties"]
                reply = json.dumps({k: v for k, v in example.answer.items() if k in wanted}, ensure_ascii=False)
            turns += [HumanMessage(content=user), AIMessage(content=reply)]
        return turns

    def _verdict(
        self, parsed: Mapping[str, Any] | None, reply: str, data: Mapping[str, Any], source_text: str
    ) -> Verdict:
        """The controls the answer fills validly. Without JSON, a reply that is exactly a label (or one label per
        line) still selects it; every other control says why it is empty."""
        controls = self.layout.controls
        if not controls:
            return Verdict(regions=[], reasons={})
        not_json = "the model's answer was not a JSON object"
        from_prose = parsed is None
        if parsed is None:
            parsed = labels_in_prose(controls, reply)
            if not parsed:
                return Verdict(regions=[], reasons={tag.name: not_json for tag in controls})
        # Labels spans are located in the text of their object: plain text only (a URL is not the text).
        text_of = {
            obj.name: value
            for obj in self.layout.config.objects
            if obj.tag == "Text"
            and not obj.is_url
            and obj.value_key
            and isinstance(value := data.get(obj.value_key), str)
        }
        text_of[self.layout.source.name] = source_text
        verdict = read_answer(controls, reshape(controls, parsed), text_of)
        if from_prose:  # the controls the prose did not name
            unnamed = {tag.name: f"{not_json}, nor one of its labels" for tag in controls if tag.name not in parsed}
            verdict.reasons.update(unnamed)
        return verdict

    async def _ask(
        self, messages: list[BaseMessage], deadline: float
    ) -> tuple[list[str], Mapping[str, Any] | None, str, list[BaseMessage]]:
        """NUM_RESPONSES response texts, the first answer's JSON object (None without controls or JSON) and its
        text, and the model's replies (for their usage), to the conversation ``messages`` (few-shot turns, then the
        task)."""
        count = self.settings.num_responses
        structured = self._structured
        if structured is not None:
            outs = await asyncio.gather(
                *(self._call(lambda: structured.ainvoke(messages), deadline) for _ in range(count))
            )
            raws = [out if isinstance(out, BaseMessage) else out.get("raw") for out in outs]
            replies = [raw for raw in raws if isinstance(raw, BaseMessage)]
            texts = [_text(raw) for raw in raws]
            objects = [
                out["parsed"]
                if isinstance(out, Mapping) and isinstance(out.get("parsed"), Mapping)
                else json_in_text(text)
                for out, text in zip(outs, texts, strict=True)
            ]
            billed = replies
        else:
            replies, billed = await self._replies(messages, count, deadline)
            texts = [_text(reply) for reply in replies]
            objects = [json_in_text(text) if self.schema is not None else None for text in texts]
        # A model that answers in prose instead of JSON still has its text shown in the response TextAreas.
        names = [tag.name for tag in self.layout.responses]
        answers = [answer_text(obj, text, names) for obj, text in zip(objects, texts, strict=True)]
        answers = [answer for answer in answers if answer] if self.layout.responses else []
        return answers, objects[0] if objects else None, texts[0] if texts else "", billed

    async def _replies(
        self, messages: list[BaseMessage], count: int, deadline: float
    ) -> tuple[list[BaseMessage], list[BaseMessage]]:
        """``count`` replies (one request with ``n`` where the model takes it, one call per answer for the rest),
        and one reply per request, whose usage is that request's."""
        model = self.chat_model
        replies: list[BaseMessage] = []
        if count > 1 and "n" in type(model).model_fields:
            result = await self._call(lambda: model.agenerate([messages], n=count), deadline)
            replies = [
                getattr(generation, "message", None) or AIMessage(generation.text)
                for generation in result.generations[0]
            ][:count]
        billed = replies[:1]  # each choice of an ``n`` request carries the usage of the whole request
        # Models without ``n``, and servers that ignore it (some OpenAI-compatible ones), get one call per answer.
        missing = count - len(replies)
        extra = await asyncio.gather(*(self._call(lambda: model.ainvoke(messages), deadline) for _ in range(missing)))
        return replies + list(extra), billed + list(extra)

    async def _call(self, make: Callable[[], Awaitable[T]], deadline: float) -> T:
        """One model call with LLM_TIMEOUT, retried while transient and while the batch has time left."""
        loop = asyncio.get_running_loop()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.llm_max_attempts) | _StopNear(deadline),
            wait=wait_random_exponential(multiplier=0.5, max=4.0),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise LLMCallError(
                        f"No time left: the batch used up PREDICT_TIMEOUT={self.settings.predict_timeout:g}s."
                    )
                return await asyncio.wait_for(make(), timeout=min(self.settings.llm_timeout, remaining))
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
