"""``ls-langchain learn``: a project's submitted annotations as the backend's few-shot examples, in one go.

For projects annotated before the backend was connected (its webhook only sees what comes after), or to rebuild
the pool after changes the webhook did not see. Each annotated task gives one example, from its latest submitted
annotation (skipped ones never count); the ``FEW_SHOT_POOL`` most recent become the live pool, replacing what it
held, and are published at once as the snapshot the next predictions use.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ls_langchain.predictor.bulk import TASK_FILTERS
from ls_langchain.predictor.examples import Example, read_example
from ls_langchain.predictor.inputs import MediaLoader
from ls_langchain.predictor.interactive import background_loop
from ls_langchain.predictor.layout import read_layout
from ls_langchain.predictor.settings import Settings
from ls_langchain.predictor.state import most_recent
from ls_langchain.predictor.stores import open_state
from ls_langchain.studio import Studio

__all__ = ["LearnSummary", "learn_project"]


@dataclass
class LearnSummary:
    """What a ``learn`` run kept, and what it left out and why."""

    project_id: int
    annotated: int = 0  # tasks with at least one annotation, submitted or skipped
    examples: int = 0  # in the published pool
    skipped: int = 0  # tasks whose annotations were all skipped
    unusable: int = 0  # tasks whose annotation answers nothing but the prompt, or whose input is an image
    over_limit: int = 0  # older examples past FEW_SHOT_POOL
    version: str = ""
    few_shot: int = 0

    def describe(self) -> str:
        """One line for a person."""
        left_out = [
            f"{count} {why}"
            for count, why in (
                (self.skipped, "skipped"),
                (self.unusable, "with no answer besides the prompt or no text"),
                (self.over_limit, "older than the FEW_SHOT_POOL most recent"),
            )
            if count
        ]
        use = f"FEW_SHOT={self.few_shot} uses it" if self.few_shot else "set FEW_SHOT to use it"
        return (
            f"Project {self.project_id}: {self.examples} examples from {self.annotated} annotated tasks"
            + (f" (left out: {', '.join(left_out)})" if left_out else "")
            + f"; published as {self.version} ({use})."
        )


def _latest(annotations: Any) -> tuple[Mapping[str, Any] | None, bool]:
    """A task's latest submitted annotation, and whether it had only skipped ones."""
    found = [a for a in annotations or () if isinstance(a, Mapping)]
    submitted = [a for a in found if not a.get("was_cancelled")]
    if not submitted:
        return None, bool(found)
    return max(
        submitted, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0)
    ), False


def learn_project(
    studio: Studio,
    project_id: int,
    *,
    settings: Settings | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> LearnSummary:
    """Replace the project's example pool with its submitted annotations and publish it; see the module docstring.

    The state is the backend's (``STATE_URL``, else SQLite under ``MODEL_DIR``): run it with the server's settings.
    """
    base = settings if settings is not None else Settings.from_env()
    state = open_state(base.model_dir, base.state_url)
    key = str(project_id)
    project_settings = base.merged(state.get(key).extra_params)
    project = studio.get_project(project_id)
    # Learning reads answers only: a config without a prompt TextArea is fine here.
    layout = read_layout(project.label_config, project_settings.prompt_prefix, has_default_prompt=True)
    loader = MediaLoader(project_settings)
    summary = LearnSummary(project_id, few_shot=project_settings.few_shot)
    examples: list[Example] = []
    # Tasks with a submitted or a skipped annotation (Label Studio counts skipped ones apart).
    skipped = {**TASK_FILTERS["annotated"][0], "filter": "filter:tasks:cancelled_annotations"}
    query = json.dumps({"filters": {"conjunction": "or", "items": [*TASK_FILTERS["annotated"], skipped]}})
    for task in studio.iter_tasks(project_id, query=query):
        summary.annotated += 1
        annotation, only_skipped = _latest(task.get("annotations"))
        if annotation is None:
            summary.skipped += int(only_skipped)
            continue
        read = read_example(layout, loader, task, annotation)
        example = asyncio.run_coroutine_threadsafe(read, background_loop()).result()
        if example is None:
            summary.unusable += 1
        else:
            examples.append(example)
        if progress:
            progress(summary.annotated, None)
    kept = most_recent(examples, project_settings.few_shot_pool)
    summary.examples, summary.over_limit = len(kept), len(examples) - len(kept)
    state.replace_examples(key, kept)
    summary.version = state.publish_examples(key, project_settings.few_shot_pool)
    return summary
