"""`make demo`'s backend part: ``ls-langchain serve`` started as a user starts it, connected through Label Studio's
API to a project with the text classification config of Label Studio's ``llm_interactive`` example, Retrieve
Predictions run so that prefilled tasks are there to open, a few tasks answered by a person (here this script),
and the evaluation report written.

With OPENAI_API_KEY set the backend calls gpt-4o-mini. Without it, the backend serves ``OPENAI_PROVIDER=offline``,
a demo double and not a model: it picks each control's first label and says it is offline in its answer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ls_langchain.evaluation import evaluate_project
from ls_langchain.studio import Studio

TITLE = "Sarcasm (prefilled by the backend)"
# The text classification config of Label Studio's llm_interactive example, as its README gives it.
CONFIG = """<View>
    <!-- Input data -->
    <Text name="text" value="$text"/>
    <!-- Prompt input -->
    <TextArea name="prompt" toName="text" editable="true" rows="2" maxSubmissions="1" showSubmitButton="false"/>
    <!-- LLM response output -->
    <TextArea name="response" toName="text" smart="false" editable="true"/>
    <View style="box-shadow: 2px 2px 5px #999;
               padding: 20px; margin-top: 2em;
               border-radius: 5px;">
        <Choices name="sentiment" toName="text"
                 choice="multiple" showInLine="true">
            <Choice value="Sarcastic"/>
            <Choice value="Not Sarcastic"/>
        </Choices>
    </View>
</View>"""
# The prompt Retrieve Predictions uses until a person submits one of their own (a project setting of the backend).
PROMPT = "Is this text sarcastic? Answer in one line."
BACKEND_TITLE = "ls-langchain serve"
TEXTS = [
    ("Oh great, another Monday. Exactly what I was hoping for.", "Sarcastic"),
    ("The train left on time and I got a seat by the window.", "Not Sarcastic"),
    ("Wow, the printer jammed again. What a surprise.", "Sarcastic"),
    ("The bakery on the corner opens at seven.", "Not Sarcastic"),
    ("I just love waiting on hold for an hour. Best part of my day.", "Sarcastic"),
    ("The meeting moved to Thursday at ten.", "Not Sarcastic"),
]
ANSWERED = 4  # tasks a person answers, so that the evaluation report has something to compare


@contextlib.contextmanager
def serving(folder: Path, port: int) -> Iterator[str]:
    """``ls-langchain serve`` on 127.0.0.1:``port`` in a process of its own (state in ``folder``, log in
    ``folder/serve.log``); yields its URL once ``/health`` answers, and stops it on the way out."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            busy = f"Port {port} on 127.0.0.1 is in use: stop what listens there or pass --backend-port."
            raise SystemExit(busy) from None
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODEL_DIR": str(folder), "TEMPERATURE": "0"}
    if os.environ.get("OPENAI_API_KEY"):
        env.setdefault("OPENAI_MODEL", "gpt-4o-mini")
    else:
        env["OPENAI_PROVIDER"] = "offline"
    script = Path(sys.executable).with_name("ls-langchain")  # the command `pip install ls-langchain` puts on PATH
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ls_langchain.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with (folder / "serve.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180  # importing the server takes a while on a busy machine
        while not _answers(f"{url}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ls-langchain serve did not start: see {folder / 'serve.log'}")
            time.sleep(0.2)
        print(f"  ls-langchain serve is up at {url} (pid {process.pid}), model: {_model_name(env)}")
        print(f"  its log: {folder / 'serve.log'}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _model_name(env: dict[str, str]) -> str:
    if env.get("OPENAI_PROVIDER") == "offline":
        return "the offline demo double (OPENAI_PROVIDER=offline), not a real model"
    return f"{env.get('OPENAI_PROVIDER', 'openai')} {env.get('OPENAI_MODEL', '')}".strip()


def _project(studio: Studio) -> Any:
    """The demo's project: made with its tasks on the first run, the same one later."""
    client = studio.client
    for project in client.projects.list():
        if project.title == TITLE:
            return project
    project = client.projects.create(title=TITLE, label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"text": text} for text, _ in TEXTS])
    return project


def _connect(studio: Studio, project_id: int, url: str) -> str:
    """Connect the backend to the project as Settings > Model > Connect Model does (an earlier run's connection is
    pointed at this run's URL); returns the backend's model version."""
    client = studio.client
    earlier = [ml for ml in client.ml.list(project=project_id) if ml.title == BACKEND_TITLE]
    if earlier:
        client.ml.update(id=earlier[0].id, url=url, project=project_id)  # without project, Label Studio answers 500
    else:
        client.ml.create(
            url=url,
            project=project_id,
            title=BACKEND_TITLE,
            is_interactive=True,
            extra_params={"DEFAULT_PROMPT": PROMPT},
        )
    [ml] = [ml for ml in client.ml.list(project=project_id) if ml.url == url]  # listing asks the backend again
    if ml.state != "CO":
        raise SystemExit(f"Label Studio could not connect the backend at {url}: {ml.error_message}")
    return str(ml.model_version)


def _label(result: Any) -> str:
    for item in result or ():
        if item.get("from_name") == "sentiment":
            return ", ".join(item["value"]["choices"])
    return "-"


def run(studio: Studio, backend_url: str, folder: Path) -> list[str]:
    """Connect, retrieve predictions, answer a few tasks, evaluate; print the prefilled tasks. Returns the lines
    that say where to click, for the end of the demo's output."""
    client = studio.client
    project = _project(studio)
    version = _connect(studio, project.id, backend_url)
    # Data Manager > Actions > Retrieve Predictions, through the API: Label Studio asks the backend for each task.
    everything = {"all": True, "excluded": []}
    client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items=everything)
    tasks = sorted(client.tasks.list(project=project.id), key=lambda task: int(task.id))
    latest = {}
    for found in sorted(client.predictions.list(project=project.id), key=lambda p: int(p.id)):
        if found.model_version == version:
            latest[int(found.task)] = found
    right = dict(TEXTS)
    for task in tasks[:ANSWERED]:
        if not task.total_annotations and task.data["text"] in right:
            value = {"choices": [right[task.data["text"]]]}
            result = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": value}]
            client.annotations.create(id=task.id, result=result)
    print(f"  The backend prefilled {len(latest)} of {len(tasks)} tasks of {TITLE!r} (model version {version}):")
    print(f"  {'task':>6}  {'text':<58}  {'predicted':<14}  {'person':<14}")
    for task in tasks:
        prediction = latest.get(int(task.id))
        answered = next(iter(client.annotations.list(id=task.id)), None)
        text = task.data["text"] if len(task.data["text"]) <= 58 else task.data["text"][:55] + "..."
        predicted = _label(prediction.result) if prediction else "(none)"
        person = _label(answered.result) if answered else "-"
        print(f"  {task.id:>6}  {text:<58}  {predicted:<14}  {person:<14}")
    report = evaluate_project(studio, project.id, folder / "prefill-report")
    print(f"  {report.describe()}")
    print(f"  Report: {report.files[0]} (also {report.files[2].name})")
    page = studio.project_url(project.id)
    return [
        f"The backend's prefilled project: {page}",
        "  Open a task: the backend's prediction fills it, the Choice picked and the response written (its tab",
        "  names the model version). Label Studio asks the backend for a task that has no prediction when it opens.",
        "  Interactive prefill: turn on Auto-Annotation, the toggle in the bar under the task (it is off in a browser",
        "  that has not used it; the browser then remembers it). Delete the task's prompt (the bin beside it), type a",
        "  prompt of your own into the prompt box and press Shift+Enter: the response and the Choice fill in.",
        "  Many tasks at once: Data Manager > select tasks > Actions > Retrieve Predictions.",
        f"  The backend: {backend_url} (ls-langchain serve, a process of its own).",
        f"  Evaluation report: {report.files[2]}; write it again with",
        f"    ls-langchain evaluate --project {project.id} --out {folder / 'prefill-report'}",
    ]
