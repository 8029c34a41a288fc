"""The ML backend protocol Label Studio speaks, as an ASGI app (FastAPI): ``create_app()`` and ``serve()``.

``/setup`` validates everything it can (settings, extra params, labeling config, chat model) and answers 400 with
one line when something is wrong; ``/predict`` answers one item per task; ``/webhook`` keeps the prompt of each
submitted annotation and the few-shot example it makes (and forgets the examples of deleted annotations). Every
error body is JSON (``{"error": "..."}``), never a traceback. With ``BASIC_AUTH_USER`` and ``BASIC_AUTH_PASS``
set, every route asks for them; a request body over ``MAX_REQUEST_BYTES`` is refused with 413.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ls_langchain.errors import ConfigurationError, LSLangChainError
from ls_langchain.predictor.examples import after_change, published_pool, read_example
from ls_langchain.predictor.inputs import MediaLoader
from ls_langchain.predictor.interactive import TRAINING_EVENTS, LLMInteractive
from ls_langchain.predictor.models import build_chat_model, scrub
from ls_langchain.predictor.settings import Settings, parse_extra_params
from ls_langchain.predictor.stores import open_state

__all__ = ["create_app", "serve"]

logger = logging.getLogger(__name__)
#: Annotations imported in bulk: ``annotation`` and ``task`` are lists.
_BULK_CREATED = "ANNOTATIONS_CREATED"
#: Annotations deleted: ``annotations`` lists their ids.
_DELETED = "ANNOTATIONS_DELETED"


class SetupRequest(BaseModel):
    """What Label Studio sends when it connects the backend to a project."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    project: str | int
    label_config: str = Field(alias="schema", min_length=1)
    extra_params: dict[str, Any] | str | None = None


class PredictRequest(BaseModel):
    """Tasks to predict; ``params.context`` carries the annotator's input in interactive mode."""

    model_config = ConfigDict(extra="allow")
    tasks: list[dict[str, Any]]
    project: str | int | None = None
    label_config: str | None = None
    params: dict[str, Any] | None = None


class WebhookRequest(BaseModel):
    """A Label Studio webhook; only annotation events are acted on."""

    model_config = ConfigDict(extra="allow")
    action: str
    project: dict[str, Any] | None = None
    annotation: dict[str, Any] | list[Any] | None = None  # a list for ANNOTATIONS_CREATED


def _project_key(project: str | int | None) -> str:
    """Label Studio names a project ``"<id>.<created timestamp>"`` in some calls and by its id in others."""
    return str(project or "").split(".", 1)[0]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem of a malformed body, in one line."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "Malformed request: " + "; ".join(problems)


def _basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    """Whether ``header`` carries ``user:password``, compared as UTF-8 bytes (RFC 7617) in constant time."""
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True)
    except ValueError:  # not base64, or not ASCII at all (binascii.Error is a ValueError)
        return False
    given_user, _, given_password = given.partition(b":")
    return hmac.compare_digest(given_user, user.encode()) & hmac.compare_digest(given_password, password.encode())


def _basic_auth_from_env() -> tuple[str, str] | None:
    """BASIC_AUTH_USER and BASIC_AUTH_PASS, both or neither: one alone would leave the backend open unawares."""
    user, password = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
    if bool(user) != bool(password):
        given, missing = ("BASIC_AUTH_USER", "BASIC_AUTH_PASS") if user else ("BASIC_AUTH_PASS", "BASIC_AUTH_USER")
        raise ConfigurationError(f"{given} is set but {missing} is not: set both to require basic auth, or neither.")
    return (user, password) if user and password else None


class _BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413, by its Content-Length before it is
    read; a body without one (chunked) is read up to the limit first, then handed on."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:  # the server holds the client to it
            if not length.isdigit() or int(length) > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
        whole: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return _error(413, f"Request body larger than MAX_REQUEST_BYTES={limit}: send fewer tasks per request.")


def _warm_up() -> None:
    """Load and build the OpenAI classes once now: Label Studio gives ``/setup`` 3 s, and a cold import takes 2."""
    with contextlib.suppress(ImportError):
        from langchain_openai import ChatOpenAI

        ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("warm-up"))  # builds clients, makes no request


def create_app(
    settings: Settings | None = None,
    *,
    chat_model_factory: Callable[[Settings], BaseChatModel] | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> FastAPI:
    """The backend as an ASGI app; settings, and basic auth, default to the environment."""
    base = settings if settings is not None else Settings.from_env()
    basic_auth = basic_auth if basic_auth is not None else _basic_auth_from_env()
    state = open_state(base.model_dir, base.state_url)
    _warm_up()
    counts: Counter[str] = Counter()
    # Chat models hold connection pools: one per distinct settings, not one per request.
    model_for = lru_cache(maxsize=32)(chat_model_factory or build_chat_model)

    def backend(
        project: str, label_config: str, record_prompt: str | None, extra_params: Mapping[str, Any]
    ) -> LLMInteractive:
        project_settings = base.merged(extra_params)
        return LLMInteractive(
            label_config,
            model_for(project_settings),
            prompt=record_prompt,
            examples=published_pool(state, project) if project_settings.few_shot else None,
            base_settings=project_settings,
        )

    async def learn(model: LLMInteractive, project: str, payload: Mapping[str, Any]) -> str | None:
        """Keep the examples a webhook's annotations make (forget those skipped since); returns the version of a
        snapshot this published, if it did."""
        annotations = payload.get("annotation")
        tasks = payload.get("task")
        annotations = annotations if isinstance(annotations, list) else [annotations]
        tasks = {str(t.get("id")): t for t in (tasks if isinstance(tasks, list) else [tasks]) if isinstance(t, dict)}
        pending = 0
        loader = MediaLoader(model.settings)
        for annotation in annotations:
            if not isinstance(annotation, Mapping):
                continue
            task: Mapping[str, Any] = tasks.get(str(annotation.get("task"))) or next(iter(tasks.values()), {})
            try:
                example = await read_example(model.layout, loader, task, annotation)
            except LSLangChainError as exc:  # its text could not be read: the annotation is no example
                logger.warning("annotation %s kept as no example: %s", annotation.get("id"), exc)
                continue
            if example is not None:
                pending = state.save_example(project, example)
            elif annotation.get("was_cancelled") and annotation.get("id") is not None:
                pending = state.drop_examples(project, [int(annotation["id"])])  # skipped after all
        return after_change(state, project, pending, model.settings)

    app = FastAPI(title="ls-langchain interactive LLM backend", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if basic_auth and not _basic_auth_ok(request.headers.get("authorization"), *basic_auth):
            return JSONResponse(
                {"error": "Unauthorized: this backend needs the basic auth user and password set in Label Studio."},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="ls-langchain"'},
            )
        try:
            return await call_next(request)
        except Exception:  # the last line of defence: a bug answers 500 with a line, never a traceback
            logger.exception("%s %s failed", request.method, request.url.path)
            return _error(500, "Internal error in the ML backend; its log has the details.")

    app.add_middleware(_BodyLimit, limit=base.max_request_bytes)  # outermost: before anything reads the body

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc))

    @app.exception_handler(LSLangChainError)
    async def ours(request: Request, exc: LSLangChainError) -> JSONResponse:
        message = scrub(str(exc), base.secrets())
        # Label Studio shows only "400 Client Error" to its user and points them at this log.
        logger.warning("%s %s refused: %s", request.method, request.url.path, message)
        return _error(400, message)

    @app.get("/")
    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "UP", "model_class": LLMInteractive.__name__}

    @app.post("/setup")
    async def setup(body: SetupRequest) -> dict[str, Any]:
        project = _project_key(body.project)
        extra_params = parse_extra_params(body.extra_params)
        record = state.get(project)
        model = backend(project, body.label_config, record.prompt, extra_params)
        version = model.model_version()
        state.save_setup(project, extra_params, body.label_config)
        state.add_version(project, version)
        counts["setups"] += 1
        return {"model_version": version}

    @app.post("/predict")
    async def predict(body: PredictRequest) -> Response:
        project = _project_key(body.project)
        record = state.get(project)
        label_config = body.label_config or record.label_config
        if not label_config:
            return _error(400, "No label_config in the request, and /setup was never called for this project.")
        context = (body.params or {}).get("context")
        model = backend(project, label_config, record.prompt, record.extra_params)
        predictions = await model.apredict(body.tasks, context if isinstance(context, Mapping) else None)
        failed = [p for p in predictions if p.get("error")]
        counts["tasks"] += len(body.tasks)
        counts["predictions"] += len(predictions) - len(failed)
        counts["failed_tasks"] += len(failed)
        for prediction in failed:
            logger.warning("task not predicted: %s", prediction["error"])
        if context and predictions and len(failed) == len(predictions):
            # Interactive mode: say why, rather than fill nothing in silently; the status says whose fault it is.
            return _error(int(failed[0].get("error_status") or 502), failed[0]["error"])
        # Batch mode: a failed task gets no prediction, so that Retrieve Predictions can try it again later.
        return JSONResponse({"results": [[] if p.get("error") else p for p in predictions]})

    @app.post("/webhook")
    async def webhook(body: WebhookRequest) -> JSONResponse:
        counts["webhooks"] += 1
        if body.action not in (*TRAINING_EVENTS, _BULK_CREATED, _DELETED):
            return JSONResponse({"status": "ignored", "action": body.action}, status_code=200)
        project_info = body.project or {}
        project = _project_key(project_info.get("id"))
        label_config = project_info.get("label_config")
        if not project or not isinstance(label_config, str):
            return _error(422, "Malformed request: project.id and project.label_config are required for this event.")
        payload = body.model_dump()
        record = state.get(project)
        model = backend(project, label_config, record.prompt, record.extra_params)
        if body.action == _DELETED:
            ids = [int(a["id"]) for a in payload.get("annotations") or () if isinstance(a, dict) and "id" in a]
            published = after_change(state, project, state.drop_examples(project, ids), model.settings)
            prompt = None
        else:
            prompt = model.fit(body.action, payload)
            if prompt is not None:
                state.save_prompt(project, prompt)
            published = await learn(model, project, payload)
        if prompt is None and (published is None or not model.settings.few_shot):
            return JSONResponse({"status": "ok", "changed": False}, status_code=201)
        version = backend(project, label_config, prompt or record.prompt, record.extra_params).model_version()
        state.add_version(project, version)
        return JSONResponse({"status": "ok", "changed": True, "model_version": version}, status_code=201)

    @app.get("/metrics")
    async def metrics() -> dict[str, int]:
        return {name: counts[name] for name in ("setups", "tasks", "predictions", "failed_tasks", "webhooks")}

    @app.get("/versions")
    async def versions(request: Request) -> dict[str, Any]:
        # Label Studio sends the project in a JSON body even though this is a GET.
        project = request.query_params.get("project")
        if project is None:
            try:
                body = await request.json()
            except ValueError:
                body = None
            project = body.get("project") if isinstance(body, dict) else None
        if not project:
            return {"versions": [], "message": "No project given."}
        return {"versions": state.versions(_project_key(project))}

    return app


def serve(host: str = "127.0.0.1", port: int = 9090, *, log_level: str = "info") -> None:
    """Run the backend with uvicorn until interrupted; bad settings fail here, before the port opens."""
    app = create_app()
    uvicorn.run(app, host=host, port=port, log_level=log_level)
