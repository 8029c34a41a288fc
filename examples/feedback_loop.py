"""The loop closed on one project: the backend prefills 200 texts (version A, no examples yet), people correct a
fifth of them (here this script, through the SDK, with the right labels), ``learn`` keeps their answers as
few-shot examples, the backend prefills again (version B, each task shown its 3 most similar examples), and
``evaluate`` compares A and B on the corrected tasks, with the difference's 95 % interval.

With OPENAI_API_KEY set the model is gpt-4o-mini. Without it, the model is the backend's offline demo double
(``OPENAI_PROVIDER=offline``), not a model: it answers "Sarcastic" (the first label) unless shown examples, then
the label of the most similar one; that shows the plumbing and the statistics, not a model's skill.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ls_langchain.evaluation import evaluate_project
from ls_langchain.predictor import Settings, learn_project, predict_project
from ls_langchain.studio import Studio

TITLE = "Feedback loop"
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <TextArea name="prompt" toName="text" rows="2"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Sarcastic"/><Choice value="Not Sarcastic"/>
  </Choices>
</View>"""
THINGS = ["printer", "laptop", "train", "kettle", "router", "bus", "phone", "heater", "lift", "dishwasher"]


def _texts() -> list[tuple[str, str]]:
    made = []
    for i in range(100):
        thing = THINGS[i % len(THINGS)]
        made.append((f"Oh wonderful, the {thing} died again on day {i}. Exactly what I needed.", "Sarcastic"))
        made.append((f"The {thing} was repaired on day {i} and works again.", "Not Sarcastic"))
    return made


def run(studio: Studio, folder: Path) -> None:
    """Run the loop once per Label Studio (the project is kept), and print the comparison's verdict."""
    client = studio.client
    if any(project.title == TITLE for project in client.projects.list()):
        print(f"  {TITLE!r} is there from an earlier run; its report is in {folder}.")
        return
    provider = "openai" if os.environ.get("OPENAI_API_KEY") else "offline"
    settings = Settings.from_env().merged(
        {
            "FEW_SHOT": 3,
            "DEFAULT_PROMPT": "Is it sarcastic?",
            "OPENAI_PROVIDER": provider,
            "OPENAI_MODEL": "gpt-4o-mini",
            "TEMPERATURE": 0,
        }
    )
    settings = dataclasses.replace(settings, model_dir=str(folder / "backend"))  # the backend's state, for `learn`
    data = _texts()
    project = client.projects.create(title=TITLE, label_config=CONFIG)
    client.projects.import_tasks(id=project.id, request=[{"text": text} for text, _ in data])
    right = dict(data)

    first = predict_project(studio, project.id, which="all", settings=settings)
    print(f"  version A (no examples): {first.describe().splitlines()[0]}")
    tasks = sorted(client.tasks.list(project=project.id, page_size=500), key=lambda task: int(task.id))
    corrected = tasks[::5]
    for task in corrected:
        value = {"choices": [right[task.data["text"]]]}
        result = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": value}]
        client.annotations.create(id=task.id, result=result)
    learned = learn_project(studio, project.id, settings=settings)
    print(f"  people corrected {len(corrected)} tasks. {learned.describe()}")
    second = predict_project(studio, project.id, which="all", settings=settings)
    print(f"  version B (with examples): {second.describe().splitlines()[0]}")
    report = evaluate_project(
        studio, project.id, folder / "loop-report", model_versions=[first.model_version, second.model_version]
    )
    [comparison] = [c for c in report.comparisons if c.control == "sentiment"]
    print(f"  {comparison.verdict}")
    print(f"  Report: {report.files[0]}")
