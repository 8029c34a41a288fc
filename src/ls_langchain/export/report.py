"""The evaluation report on disk: Markdown for people, PNG charts beside it, JSON for machines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["render_markdown", "write_report"]

_SAFE = re.compile(r"[^\w.-]+")  # what may stay of a control name in a file name


def _table(header: list[str], rows: list[list[Any]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "---|" * len(header)
    for row in rows:
        yield "| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |"


def _percent(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else "0"


def render_markdown(report: Mapping[str, Any], charts: Mapping[str, str]) -> str:
    """The report as Markdown; ``charts`` maps a section key (``ratings:<name>``, ``labels:<name>``, ``edits``)
    to the PNG file name shown in it."""
    models: Mapping[str, Any] = report["models"]
    rating_names = sorted({name for figures in models.values() for name in figures["ratings"]})
    label_names = sorted({name for figures in models.values() for name in figures["labels"]})
    lines = [f"# Evaluation of {report['project']}", "", f"Exported {report['exported_at']}. {report['filters']}", ""]
    lines += _table(
        [
            "model",
            "tasks",
            "annotated",
            "skipped",
            *(f"mean {n}" for n in rating_names),
            "kept unchanged",
            "edit ratio",
        ],
        [
            [
                f"`{version}`",
                figures["tasks"],
                _percent(figures["annotated"], figures["tasks"]),
                figures["skipped"],
                *(figures["ratings"].get(n, {}).get("mean") for n in rating_names),
                _percent(figures["edits"]["accepted_unchanged"], figures["edits"]["compared"]),
                figures["edits"]["mean_edit_ratio"],
            ]
            for version, figures in models.items()
        ],
    )
    lines += ["", "Edit ratio: 1 - similarity (difflib) between the model's answer and the final one; 0 = unchanged."]
    for name in rating_names:
        values = sorted({int(v) for f in models.values() for v in f["ratings"].get(name, {}).get("distribution", {})})
        lines += ["", f"## Rating `{name}`", "", f"![{name}]({charts[f'ratings:{name}']})", ""]
        lines += _table(
            ["model", *map(str, values), "mean"],
            [
                [f"`{v}`", *(r.get("distribution", {}).get(str(k), 0) for k in values), r.get("mean")]
                for v, f in models.items()
                for r in [f["ratings"].get(name, {})]
            ],
        )
    for name in label_names:
        labels = list(dict.fromkeys(label for f in models.values() for label in f["labels"].get(name, {})))
        lines += ["", f"## Labels `{name}`", "", f"![{name}]({charts[f'labels:{name}']})", ""]
        lines += _table(
            ["label", *(f"`{v}`" for v in models)],
            [[label, *(f["labels"].get(name, {}).get(label, 0) for f in models.values())] for label in labels],
        )
    if "edits" in charts:
        lines += ["", "## Edits", "", f"![edits]({charts['edits']})"]
    return "\n".join(lines) + "\n"


def _bars(
    path: Path, title: str, categories: list[str], series: Mapping[str, list[float]], *, horizontal: bool
) -> None:
    """Grouped bars, one group per category and one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    height = 2.5 + 0.3 * len(categories) * len(series) if horizontal else 4.0
    figure, axes = pyplot.subplots(figsize=(8, height))
    width = 0.8 / max(1, len(series))
    for index, (model, values) in enumerate(series.items()):
        positions = [i + index * width for i in range(len(categories))]
        if horizontal:
            axes.barh(positions, values, height=width, label=model)
        else:
            axes.bar(positions, values, width=width, label=model)
    ticks = [i + width * (len(series) - 1) / 2 for i in range(len(categories))]
    if horizontal:
        axes.set_yticks(ticks, categories)
        axes.invert_yaxis()
    else:
        axes.set_xticks(ticks, categories)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def write_report(report: Mapping[str, Any], out: Path) -> list[Path]:
    """Write ``out`` (Markdown), its charts as ``<stem>-*.png`` and ``<stem>.json``; return the files written."""
    models: Mapping[str, Any] = report["models"]
    out.parent.mkdir(parents=True, exist_ok=True)
    charts: dict[str, str] = {}
    written: list[Path] = []

    def chart(
        key: str, slug: str, title: str, categories: list[str], series: dict[str, list[float]], **kw: bool
    ) -> None:
        path = out.with_name(f"{out.stem}-{_SAFE.sub('_', slug)}.png")
        _bars(path, title, categories, series, horizontal=kw.get("horizontal", False))
        charts[key] = path.name
        written.append(path)

    for name in sorted({n for f in models.values() for n in f["ratings"]}):
        values = sorted(
            {k for f in models.values() for k in f["ratings"].get(name, {}).get("distribution", {})}, key=int
        )
        series = {
            v: [f["ratings"].get(name, {}).get("distribution", {}).get(k, 0) for k in values] for v, f in models.items()
        }
        chart(f"ratings:{name}", f"rating-{name}", f"Rating '{name}': annotations per value", values, series)
    for name in sorted({n for f in models.values() for n in f["labels"]}):
        labels = list(dict.fromkeys(label for f in models.values() for label in f["labels"].get(name, {})))
        series = {v: [f["labels"].get(name, {}).get(label, 0) for label in labels] for v, f in models.items()}
        chart(
            f"labels:{name}",
            f"labels-{name}",
            f"Labels '{name}': annotations per label",
            labels,
            series,
            horizontal=True,
        )
    compared = {v: f["edits"] for v, f in models.items() if f["edits"]["compared"]}
    if compared:
        series = {v: [e["accepted_unchanged"] / e["compared"], e["mean_edit_ratio"]] for v, e in compared.items()}
        chart(
            "edits",
            "edits",
            "Answers kept unchanged (share) and mean edit ratio",
            ["kept unchanged", "edit ratio"],
            series,
        )
    out.write_text(render_markdown(report, charts), encoding="utf-8")
    data = out.with_suffix(".json")
    data.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [out, data, *written]
