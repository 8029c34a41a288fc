"""Which tasks, predictions and annotations an export keeps: pure functions over the task dicts Label Studio returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ls_langchain.errors import ConfigurationError

if TYPE_CHECKING:
    from ls_langchain.studio import Studio

__all__ = ["Filters", "narrow", "resolve_annotator"]


@dataclass(frozen=True)
class Filters:
    """What to export. Dates compare with the annotation's creation time (the task's when it has none)."""

    annotated_only: bool = True
    model: str | None = None  # a prediction ``model_version``
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    annotator: int | str | None = None  # a user id, or an email ``export_project`` looks up
    limit: int | None = None  # at most this many exported tasks

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigurationError(f"limit must be a positive number of tasks, not {self.limit}.")
        if self.since and self.until and _utc(self.since) >= _utc(self.until):
            raise ConfigurationError(f"since ({self.since:%Y-%m-%d %H:%M}) must come before until.")


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, the zone Label Studio stores."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _user_id(completed_by: Any) -> int | None:
    """The annotator's id: task lists give an int, single tasks a user object."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id")
    return int(completed_by) if isinstance(completed_by, int) else None


def _within(stamp: Any, filters: Filters) -> bool:
    if filters.since is None and filters.until is None:
        return True
    if not isinstance(stamp, str):
        return False
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (filters.since is None or moment >= _utc(filters.since)) and (
        filters.until is None or moment < _utc(filters.until)
    )


def narrow(task: Mapping[str, Any], filters: Filters) -> tuple[dict[str, Any] | None, str]:
    """The task with only the predictions and annotations the filters keep, or None and the reason it is left out."""
    predictions = [p for p in task.get("predictions") or () if filters.model in (None, p.get("model_version"))]
    if filters.model is not None and not predictions:
        return None, "other_model"
    kept_ids = {p.get("id") for p in predictions}
    annotations = list(task.get("annotations") or ())
    if filters.model is not None:  # an annotation started from another model's answer judges that model
        annotations = [a for a in annotations if a.get("parent_prediction") in (None, *kept_ids)]
    mine = [a for a in annotations if filters.annotator in (None, _user_id(a.get("completed_by")))]
    dated = [a for a in mine if _within(a.get("created_at"), filters)]
    narrowed = {**task, "predictions": predictions, "annotations": dated}
    if any(not a.get("was_cancelled") for a in dated):
        return narrowed, ""
    if dated:
        return None, "skipped"
    if annotations and not mine:
        return None, "other_annotator"
    if mine:
        return None, "outside_dates"
    if filters.annotated_only or filters.annotator is not None:
        return None, "not_annotated"
    return (narrowed, "") if _within(task.get("created_at"), filters) else (None, "outside_dates")


def resolve_annotator(studio: Studio, filters: Filters) -> Filters:
    """Filters with the annotator given as an email turned into the user id Label Studio stores."""
    if not isinstance(filters.annotator, str):
        return filters
    if filters.annotator.isdigit():
        return replace(filters, annotator=int(filters.annotator))
    found = studio.find_user(filters.annotator)
    if found is None:
        raise ConfigurationError(
            f"Label Studio at {studio.url} has no user with email {filters.annotator!r}: give an annotator's email "
            "or user id as shown in Organization > Members."
        )
    return replace(filters, annotator=found)
