"""Test double for an OpenAI-compatible provider: a real HTTP server on 127.0.0.1 that speaks the OpenAI wire format.

No LLM provider can be reached from the test machines, so this server stands in for OpenAI, Azure OpenAI and Ollama
(whose ``/v1`` endpoints are OpenAI-compatible). Tests point the real ``langchain-openai`` classes at it, so the
client code that users run (request building, retries, streaming, tool calls, structured output) is exercised over
real HTTP. It never answers like a model would: the default reply says it is offline, and tests program the rest.

    with FakeOpenAI() as server:
        server.responder = lambda request: Reply(tool_calls=(ToolCall("lookup", {"q": "x"}),))
        ChatOpenAI(base_url=server.base_url, api_key="sk-test").bind_tools([lookup]).invoke("hi")
        assert server.requests[-1].json["tools"]

Token counts in ``usage`` are whitespace-separated words, not a real tokenizer's count.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = [
    "DEFAULT_MODELS",
    "FakeOpenAI",
    "RecordedRequest",
    "Replies",
    "Reply",
    "Responder",
    "ToolCall",
    "fake_openai",
    "offline_responder",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-3.5-turbo-instruct", "llama3.1")
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class ToolCall:
    """One function call the fake model asks for; ``arguments`` is a mapping (sent as JSON) or raw JSON text."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        """The arguments as the JSON text OpenAI puts on the wire."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(dict(self.arguments))


@dataclass(frozen=True)
class Reply:
    """One choice of an answer: text, tool calls, or both; ``finish_reason`` defaults from what is present."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None

    @classmethod
    def of_json(cls, value: Any) -> Reply:
        """A reply whose text is ``value`` as JSON, for ``response_format`` json_schema / json_object requests."""
        return cls(content=json.dumps(value))

    def finish(self) -> str:
        """The finish reason sent with this choice."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


Replies = str | Reply | Sequence[str | Reply]
"""What a responder returns: one reply (repeated ``n`` times when the request asks for ``n`` choices) or a list."""
Responder = Callable[[dict[str, Any]], Replies]
"""Called with the request's JSON body (for completions: once per prompt, with ``prompt`` a single string)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


def _text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict) and "text" in part)
    return ""


def _last_user_text(body: Mapping[str, Any]) -> str:
    """The last user message's text (chat), or the prompt (completions)."""
    if "prompt" in body:
        return str(body["prompt"])
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def offline_responder(request: dict[str, Any]) -> Replies:
    """The default: deterministic, and plain about not being a model."""
    return f"offline reply to: {_last_user_text(request)}"


def _count_tokens(text: str) -> int:
    return len(text.split())


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    if "prompt" in body:
        return _count_tokens(str(body["prompt"]))
    return sum(_count_tokens(_text_of(message.get("content"))) for message in body.get("messages") or [])


def _completion_tokens(replies: Sequence[Reply]) -> int:
    return sum(
        _count_tokens(reply.content or "") + sum(_count_tokens(call.arguments_json()) for call in reply.tool_calls)
        for reply in replies
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _as_replies(answer: Replies, n: int) -> list[Reply]:
    """Normalise a responder's answer to a list of choices; a single reply is repeated ``n`` times."""
    if isinstance(answer, str | Reply):
        single = answer if isinstance(answer, Reply) else Reply(content=answer)
        return [single] * n
    return [item if isinstance(item, Reply) else Reply(content=item) for item in answer]


def _call_id(call: ToolCall, choice: int, position: int) -> str:
    return call.id or f"call_{choice}_{position}"


def _tool_calls_json(reply: Reply, choice: int) -> list[dict[str, Any]]:
    return [
        {
            "id": _call_id(call, choice, position),
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        for position, call in enumerate(reply.tool_calls)
    ]


def _chat_completion(body: Mapping[str, Any], model: str, replies: Sequence[Reply]) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``body`` with ``replies``."""
    choices = []
    for index, reply in enumerate(replies):
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = _tool_calls_json(reply, index)
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": reply.finish()})
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake_openai",
        "choices": choices,
        "usage": _usage(_prompt_tokens(body), _completion_tokens(replies)),
    }


def _words(text: str) -> list[str]:
    """``text`` cut into word-sized pieces that join back to it exactly, as a model streams tokens."""
    pieces = text.split(" ")
    return [piece + " " for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


def _chat_chunks(body: Mapping[str, Any], model: str, replies: Sequence[Reply]) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, ending with a usage chunk when asked for."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake_openai",
    }
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if with_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice], **extra}

    for index, reply in enumerate(replies):
        yield chunk(index, {"role": "assistant", "content": "", "refusal": None})
        for piece in _words(reply.content or ""):
            yield chunk(index, {"content": piece})
        for position, call in enumerate(reply.tool_calls):
            opening = {"index": position, "id": _call_id(call, index, position), "type": "function"}
            yield chunk(index, {"tool_calls": [{**opening, "function": {"name": call.name, "arguments": ""}}]})
            for piece in _words(call.arguments_json()):
                yield chunk(index, {"tool_calls": [{"index": position, "function": {"arguments": piece}}]})
        yield chunk(index, {}, reply.finish())
    if with_usage:
        yield {**base, "choices": [], "usage": _usage(_prompt_tokens(body), _completion_tokens(replies))}


def _text_completion(prompt_tokens: int, model: str, replies: Sequence[Reply]) -> dict[str, Any]:
    """A legacy ``text_completion`` object; ``replies`` are in prompt order, ``n`` per prompt."""
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": index, "text": reply.content or "", "logprobs": None, "finish_reason": reply.finish()}
            for index, reply in enumerate(replies)
        ],
        "usage": _usage(prompt_tokens, _completion_tokens(replies)),
    }


def _completion_chunks(completion: Mapping[str, Any], with_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed legacy completion, built from the whole one."""
    base = {key: completion[key] for key in ("id", "object", "created", "model")}
    for choice in completion["choices"]:
        for piece in _words(choice["text"]):
            yield {**base, "choices": [{**choice, "text": piece, "finish_reason": None}]}
        yield {**base, "choices": [{**choice, "text": ""}]}
    if with_usage:
        yield {**base, "choices": [], "usage": completion["usage"]}


def _error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-style error object."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield f"data: {json.dumps(event)}\n\n"
    yield "data: [DONE]\n\n"


class _Refusal(Exception):
    """An answer other than 200: the status, the error message, and any headers to send with it."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _choice_count(body: Mapping[str, Any]) -> int:
    """The ``n`` a request asks for (1 when absent)."""
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise _Refusal(400, f"'n' must be a positive integer, got {n!r}")
    return n


@dataclass
class _Failure:
    status: int
    retry_after: float | None


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on a free loopback port, run by uvicorn in a background thread.

    ``responder`` decides the answers, ``delay`` (seconds) holds each request without blocking the others,
    ``fail_next`` makes the next requests fail, and ``requests`` records everything received.
    """

    def __init__(self, responder: Responder = offline_responder, delay: float = 0.0) -> None:
        self.responder: Responder = responder
        self.delay = delay
        self.models: tuple[str, ...] = DEFAULT_MODELS
        self._requests: list[RecordedRequest] = []
        self._failures: deque[_Failure] = deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; the Azure endpoint."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not running: use it as a context manager or call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """``url + "/v1"``; the ``base_url`` for OpenAI and Ollama-style clients."""
        return f"{self.url}/v1"

    def start(self) -> FakeOpenAI:
        """Bind a free port and serve in a daemon thread; returns once the server accepts connections."""
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        # With the protocol given, asyncio sets TCP_NODELAY on accepted connections; without it every answer on a
        # kept-alive connection waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True)
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("FakeOpenAI did not start within its time limit")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # programming it

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` and an OpenAI-style error (and ``Retry-After``)."""
        if not 400 <= status <= 599:
            raise ValueError(f"fail_next status must be an HTTP error code (400-599), got {status}")
        with self._lock:
            self._failures.extend(_Failure(status, retry_after) for _ in range(count))

    # the HTTP side

    def _app(self) -> Starlette:
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/completions", self._completions, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={404: _no_route, 405: _no_route, _Refusal: _refused})

    async def _receive(self, request: Request) -> Any:
        """Record the request, wait ``delay``, then refuse it if a failure is due; returns the JSON body."""
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        recorded = RecordedRequest(
            request.method, request.url.path, dict(request.query_params), dict(request.headers), body
        )
        with self._lock:
            self._requests.append(recorded)
            failure = self._failures.popleft() if self._failures else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if failure is not None:
            headers = {} if failure.retry_after is None else {"retry-after": f"{failure.retry_after:g}"}
            raise _Refusal(failure.status, f"injected failure: HTTP {failure.status} from FakeOpenAI", headers)
        if request.method == "POST" and not isinstance(body, dict):
            raise _Refusal(400, "the request body must be a JSON object")
        return body

    async def _answer(self, body: dict[str, Any], n: int) -> list[Reply]:
        """Ask the responder (in a worker thread, so a slow one does not hold up other requests)."""
        try:
            replies = _as_replies(await run_in_threadpool(self.responder, body), n)
        except Exception as exc:
            raise _Refusal(500, f"the responder failed: {exc!r}") from exc
        if not replies:
            raise _Refusal(500, "the responder returned no replies")
        return replies

    async def _chat(self, request: Request) -> Response:
        body = await self._receive(request)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise _Refusal(400, "'messages' must be a non-empty list")
        model = body.get("model") or request.path_params.get("deployment") or "unknown"
        replies = await self._answer(body, _choice_count(body))
        if body.get("stream"):
            return StreamingResponse(_sse(_chat_chunks(body, model, replies)), media_type="text/event-stream")
        return JSONResponse(_chat_completion(body, model, replies))

    async def _completions(self, request: Request) -> Response:
        body = await self._receive(request)
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise _Refusal(400, "'prompt' must be a string or a list of strings")
        n = _choice_count(body)
        replies = [reply for prompt in prompts for reply in await self._answer({**body, "prompt": prompt}, n)]
        prompt_tokens = sum(_count_tokens(prompt) for prompt in prompts)
        completion = _text_completion(prompt_tokens, str(body.get("model") or "unknown"), replies)
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_sse(_completion_chunks(completion, with_usage)), media_type="text/event-stream")
        return JSONResponse(completion)

    async def _models(self, request: Request) -> Response:
        await self._receive(request)
        data = [{"id": model, "object": "model", "created": 0, "owned_by": "fake-openai"} for model in self.models]
        return JSONResponse({"object": "list", "data": data})


async def _refused(request: Request, exc: Exception) -> Response:
    """Turn a refusal into the OpenAI error shape."""
    assert isinstance(exc, _Refusal)
    return JSONResponse(_error_body(exc.status, exc.message), status_code=exc.status, headers=exc.headers)


async def _no_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods get a 404 in the OpenAI error shape, naming what was asked for."""
    message = f"FakeOpenAI has no endpoint {request.method} {request.url.path}"
    return JSONResponse(_error_body(404, message), status_code=404)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fresh FakeOpenAI server per test (starts in well under a second)."""
    with FakeOpenAI() as server:
        yield server
