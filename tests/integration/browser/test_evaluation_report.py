"""The evaluation report's HTML page in a real browser: it opens from disk, shows every chart inlined, and logs no
error (the ``browser`` fixture fails the test on a console error)."""

from __future__ import annotations

from pathlib import Path

from label_studio_sdk import LabelStudio

from ls_langchain.evaluation import evaluate_project
from ls_langchain.localstudio import LocalStudio
from ls_langchain.studio import Studio

from browser import BrowserSession

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text"><Choice value="pos"/><Choice value="neg"/><Choice value="neu"/></Choices>
  <Rating name="stars" toName="text"/>
</View>"""


def _result(label: str, stars: int) -> list[dict[str, object]]:
    return [
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}},
        {"from_name": "stars", "to_name": "text", "type": "rating", "value": {"rating": stars}},
    ]


def test_report_page_shows_its_charts(
    browser: BrowserSession, studio: LocalStudio, pat: str, ls: LabelStudio, title: str, tmp_path: Path
) -> None:
    client = Studio(studio.url, pat)
    project = client.create_project(title, CONFIG)
    people = ["pos", "neg", "neu", "pos", "neg", "pos"]
    tasks = [
        {
            "data": {"text": f"Text {i}"},
            "predictions": [
                {"model_version": "v1", "result": _result("pos", 3)},
                {"model_version": "v2", "result": _result(label, 4)},
            ],
        }
        for i, label in enumerate(people)
    ]
    for task_id, label in zip(client.import_tasks(project.id, tasks).task_ids, people, strict=True):
        ls.annotations.create(id=task_id, result=_result(label, 4))

    report = evaluate_project(client, project.id, tmp_path / "report", model_versions=["v1", "v2"])
    charts = [p for p in report.files if p.suffix == ".png"]
    assert [p.name for p in charts] == [
        "report-agreement.png",
        "report-labels-sentiment.png",
        "report-labels-stars.png",
        "report-comparison.png",
    ]

    page = browser.new_page()
    page.goto((tmp_path / "report" / "report.html").as_uri())
    page.wait_for_load_state("load")
    assert page.title() == f"Evaluation of {title!r} (project {project.id})"
    images = page.locator("img")
    assert images.count() == len(charts)
    widths = images.evaluate_all("images => images.map(image => image.complete ? image.naturalWidth : 0)")
    assert all(width > 0 for width in widths), widths
    sources = images.evaluate_all("images => images.map(image => image.getAttribute('src'))")
    assert all(src.startswith("data:image/png;base64,") for src in sources)  # self-contained: no file beside it
    assert page.get_by_text("v2 is better (higher accuracy)").count() == 0  # 6 tasks: not significant
    assert page.get_by_role("heading", name="Model versions compared").is_visible()
