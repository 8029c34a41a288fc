"""The evaluation report on disk: ``report.json`` for machines, ``report.md`` with PNG charts beside it, and
``report.html``, one self-contained page (charts inlined) to open in a browser. Markdown and HTML are two renderings
of one list of blocks, so they always say the same thing."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ls_langchain.evaluation.compare import FIGURE_WORDS, label_of
from ls_langchain.evaluation.controls import Evaluation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ls_langchain.evaluation.project import EvaluationReport  # project.py imports this module to write

__all__ = ["model_label", "print_summary", "render_html", "render_markdown", "write_report"]

_SAFE = re.compile(r"[^\w.-]+")  # what may stay of a control name in a file name
_HUMAN = "people with each other"
_MOST_BARS = 40
_PEOPLE = "people"

_MAIN_WORDS = {
    Evaluation.SINGLE_CHOICE: "accuracy",
    Evaluation.MULTI_LABEL: "exact-set match",
    Evaluation.SCALAR: "exact agreement",
    Evaluation.SPANS: "span F1 (exact)",
    Evaluation.TEXT: "accepted unchanged",
}


@dataclass(frozen=True)
class Block:
    """One piece of the report: a heading (level 1-3), a paragraph, a table or a chart."""

    kind: str  # "h1", "h2", "h3", "p", "table", "img"
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()


def model_label(report: EvaluationReport, version: str) -> str:
    """A model version as people know it: its name beside its version where they differ."""
    return label_of(version, report.models[version].name if version in report.models else None)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _figure_cells(family: Evaluation, figures: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The main figures of one family: header and cells."""
    keys: tuple[str, ...]
    if family is Evaluation.SINGLE_CHOICE:
        keys = ("accuracy", "kappa", "macro_f1")
        return ("accuracy", "Cohen's κ", "macro-F1"), tuple(_number(figures.get(k)) for k in keys)
    if family is Evaluation.MULTI_LABEL:
        keys = ("exact_match", "mean_jaccard", "micro_f1", "macro_f1")
        return ("exact set", "mean Jaccard", "micro-F1", "macro-F1"), tuple(_number(figures.get(k)) for k in keys)
    if family is Evaluation.SCALAR:
        keys = ("mae", "exact", "within_1", "mean_truth", "mean_predicted")
        header = ("MAE", "exact", "within ±1", "mean (people)", "mean (model)")
        return header, tuple(_number(figures.get(k)) for k in keys)
    if family is Evaluation.SPANS:
        exact, overlap = figures.get("exact") or {}, figures.get("overlap") or {}
        cells = tuple(_number(d.get(k)) for d in (exact, overlap) for k in ("precision", "recall", "f1"))
        return ("P exact", "R exact", "F1 exact", "P overlap", "R overlap", "F1 overlap"), cells
    return ("accepted unchanged", "mean edit ratio"), (
        _percent(figures.get("accepted_unchanged")),
        _number(figures.get("mean_edit_ratio")),
    )


def _slices(report: EvaluationReport, control: str, family: Evaluation) -> Iterator[Block]:
    """The control's figures split by slice (with and without retrieved context), when a version's tasks fall into
    more than one slice; nothing otherwise, since the one slice would repeat the table above."""
    header, _ = _figure_cells(family, {})
    rows = []
    for version, model in report.models.items():
        sliced = {name: figures[control] for name, figures in model.slices.items() if control in figures}
        if len(sliced) < 2:
            continue
        for name, figures in sliced.items():
            _, cells = _figure_cells(family, figures)
            rows.append((model_label(report, version), name, figures["tasks"], _percent(figures["coverage"]), *cells))
    if rows:
        yield Block("p", "The same, split by whether the model had retrieved context (RAG):")
        yield Block("table", header=("model", "slice", "tasks", "coverage", *header), rows=tuple(rows))


def blocks(report: EvaluationReport, charts: Mapping[str, str]) -> Iterator[Block]:
    """The report as blocks; ``charts`` maps a chart key to its PNG file name."""
    yield Block("h1", f"Evaluation of {report.project_title!r} (project {report.project_id})")
    truth_words = {
        "latest": "each task's ground-truth annotation, else its latest submitted annotation",
        "ground-truth": "ground-truth annotations only",
        "majority": "the answer most annotators gave, per control",
    }[report.truth]
    yield Block("p", f"Made {report.created_at}. People's answer: {truth_words}. {report.filters}")
    yield Block("p", report.describe())
    yield Block(
        "table",
        header=("model", "tasks predicted", "annotated", "skipped", "not annotated", "annotations"),
        rows=tuple(
            (model_label(report, v), m.tasks, m.annotated, m.skipped, m.not_annotated, m.annotations)
            for v, m in report.models.items()
        ),
    )
    if "agreement" in charts:
        yield Block("img", "Agreement with people, per control", rows=((charts["agreement"],),))
    for control in report.controls:
        yield Block("h2", f"{control.tag} `{control.name}`")
        human = report.human.get(control.name)
        header, _ = _figure_cells(control.family, {})
        rows = []
        for version, model in report.models.items():
            figures = model.controls[control.name]
            _, cells = _figure_cells(control.family, figures)
            rows.append(
                (
                    model_label(report, version),
                    figures["tasks"],
                    figures["answered"],
                    figures["abstained"],
                    _percent(figures["coverage"]),
                    *cells,
                )
            )
        yield Block("table", header=("model", "tasks", "answered", "abstained", "coverage", *header), rows=tuple(rows))
        yield from _slices(report, control.name, control.family)
        yield Block("p", _ceiling_words(report, control.name, control.family, human))
        if control.family is Evaluation.SCALAR:
            yield Block("p", _people_mean(report, control.name))
        if f"labels:{control.name}" in charts:
            yield Block("img", f"{control.name}: answers per label", rows=((charts[f"labels:{control.name}"],),))
        yield from _details(report, control.name, control.family)
    if report.comparisons:
        yield Block("h2", "Model versions compared")
        yield Block(
            "p",
            "Each row: the second version against the first on the tasks both answered, in the control's main "
            "figure; the 95 % interval comes from resampling those tasks (bootstrap), and accuracy also has "
            "McNemar's exact test.",
        )
        if "comparison" in charts:
            yield Block("img", "Improvement of each version over the first", rows=((charts["comparison"],),))
        yield Block(
            "table",
            header=(
                "control",
                "first",
                "second",
                "figure",
                "tasks",
                "first's",
                "second's",
                "difference",
                "95 % CI",
                "p (McNemar)",
            ),
            rows=tuple(
                (
                    c.control,
                    model_label(report, c.a),
                    model_label(report, c.b),
                    FIGURE_WORDS[c.figures["figure"]],
                    c.figures["tasks"],
                    _number(c.figures.get("a_value")),
                    _number(c.figures.get("b_value")),
                    _number(c.figures.get("difference")),
                    " to ".join(_number(x) for x in c.figures.get("ci95", [None, None])),
                    _number((c.figures.get("mcnemar") or {}).get("p_value")),
                )
                for c in report.comparisons
            ),
        )
        for comparison in report.comparisons:
            yield Block("p", f"`{comparison.control}`: {comparison.verdict}")
    yield Block("h2", "What the figures mean")
    yield Block(
        "p",
        "Tasks: tasks with people's answer for the control and a prediction of the version; answered: those where the "
        "prediction filled the control; abstained: it left the control empty (counted apart from wrong answers, which "
        "the figures rest on); coverage = answered / tasks. Edit ratio: 1 - difflib similarity between the model's "
        "text and people's (0 = unchanged).",
    )


def _ceiling_words(report: EvaluationReport, control: str, family: Evaluation, human: Mapping[str, Any] | None) -> str:
    words = _MAIN_WORDS[family]
    said = [
        f"{model_label(report, v)} agrees with people {_percent(m.controls[control].get('agreement'))}"
        for v, m in report.models.items()
        if m.controls[control].get("agreement") is not None
    ]
    text = ("; ".join(said) + f" ({words}).") if said else "No prediction to compare with people's answers yet."
    if human is None:
        return text + " No task has two annotators' answers for it, so people's agreement with each other is unknown."
    statistic = {"cohen_kappa": "Cohen's kappa", "krippendorff_alpha": "Krippendorff's alpha"}.get(
        human.get("statistic", "")
    )
    extra = f", {statistic} {_number(human.get('value'))}" if statistic else ""
    return text + (
        f" People agree with each other {_percent(human['agreement'])} ({human['pairs']} pairs on "
        f"{human['tasks']} tasks{extra})."
    )


def _people_mean(report: EvaluationReport, control: str) -> str:
    """People's mean answer on each version's tasks (e.g. how they rated its answers), predicted or not."""
    said = [
        f"{d['truth_mean']:.2f} on the {sum(d['truth'])} tasks of {model_label(report, v)}"
        for v, m in report.models.items()
        if (d := m.controls[control].get("distribution")) and d.get("truth_mean") is not None
    ]
    return f"People's mean `{control}`: " + ("; ".join(said) if said else "no answers") + "."


def _details(report: EvaluationReport, control: str, family: Evaluation) -> Iterator[Block]:
    for version, model in report.models.items():
        figures = model.controls[control]
        if family in (Evaluation.SINGLE_CHOICE, Evaluation.MULTI_LABEL) and figures.get("per_label"):
            yield Block("h3", f"{model_label(report, version)}: per label")
            yield Block(
                "table",
                header=("label", "precision", "recall", "F1", "people's count"),
                rows=tuple(
                    (label, _number(f["precision"]), _number(f["recall"]), _number(f["f1"]), f["support"])
                    for label, f in figures["per_label"].items()
                ),
            )
        confusion = figures.get("confusion")
        if confusion:
            yield Block(
                "p",
                f"Confusion matrix of {model_label(report, version)}: rows are people's label, columns the model's.",
            )
            yield Block(
                "table",
                header=("people \\ model", *confusion["labels"]),
                rows=tuple((label, *row) for label, row in zip(confusion["labels"], confusion["matrix"], strict=True)),
            )


# Markdown and HTML


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(items: Sequence[Block]) -> str:
    """The blocks as Markdown."""
    lines: list[str] = []
    for block in items:
        if block.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(block.kind[1]) + " " + block.text, ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "table":
            lines.append("| " + " | ".join(map(_md_cell, block.header)) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            lines.append("")
        elif block.kind == "img":
            lines += [f"![{block.text}]({block.rows[0][0]})", ""]
    return "\n".join(lines)


_CODE = re.compile(r"`([^`]*)`")
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child,.words{text-align:left}th{background:#f3f3f3}
img{max-width:100%;display:block;margin:1em 0}code{background:#f3f3f3;padding:0 .2em}"""


_FIGURE = re.compile(r"[-+]?[\d.,]*\d%?|-")


def _words(value: Any) -> bool:
    """Whether a cell holds words (aligned left) rather than a figure (aligned right, the page's default)."""
    return not isinstance(value, int | float) and not _FIGURE.fullmatch(str(value))


def _cell(tag: str, value: Any, words: bool) -> str:
    return f'<{tag} class="words">{_inline(value)}</{tag}>' if words else f"<{tag}>{_inline(value)}</{tag}>"


def _inline(text: Any) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(str(text)))


def render_html(items: Sequence[Block], images: Mapping[str, bytes]) -> str:
    """The blocks as one self-contained HTML page; ``images`` maps a chart's file name to its PNG bytes."""
    title = next((b.text for b in items if b.kind == "h1"), "Evaluation")
    body: list[str] = []
    for block in items:
        if block.kind in ("h1", "h2", "h3"):
            body.append(f"<{block.kind}>{_inline(block.text)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{_inline(block.text)}</p>")
        elif block.kind == "table":
            first = block.rows[0] if block.rows else ()
            head = "".join(_cell("th", h, i < len(first) and _words(first[i])) for i, h in enumerate(block.header))
            rows = "".join("<tr>" + "".join(_cell("td", c, _words(c)) for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif block.kind == "img":
            data = base64.b64encode(images[block.rows[0][0]]).decode("ascii")
            body.append(f'<img alt="{html.escape(block.text)}" src="data:image/png;base64,{data}">')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# Charts


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _label_bars(axes: Axes, bars: Any, values: Sequence[float], *, share: bool) -> None:
    """Write each bar's value beside it, so that a zero shows as 0 rather than as nothing (n/a: no figure)."""
    texts = ["n/a" if v != v else f"{v:.0%}" if share else f"{v:g}" for v in values]  # NaN != NaN
    axes.bar_label(bars, labels=texts, padding=2, fontsize=8)


def _grouped(
    path: Path,
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    value_label: str,
    category_label: str,
    share: bool,
    horizontal: bool,
) -> None:
    """Grouped bars, one group per category and one colour per series; the legend sits outside the plot."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    pyplot = _pyplot()
    groups = max(1, len(categories))
    size = (
        (9, 2.0 + 0.28 * groups * max(1, len(series)))
        if horizontal
        else (min(12, max(7, 0.5 * groups * len(series) + 3)), 4.5)
    )
    figure, axes = pyplot.subplots(figsize=size)
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [i + index * width for i in range(len(categories))]
        draw = axes.barh if horizontal else axes.bar
        heights = [0.0 if v != v else v for v in values]  # no figure: no bar, and "n/a" written
        bars = draw(positions, heights, width, label=name, hatch="//" if name == _HUMAN else None)
        _label_bars(axes, bars, values, share=share)
    ticks = [i + width * (len(series) - 1) / 2 for i in range(len(categories))]
    value_axis = axes.xaxis if horizontal else axes.yaxis
    if share:
        value_axis.set_major_formatter(PercentFormatter(1.0))
        (axes.set_xlim if horizontal else axes.set_ylim)(0, 1.12)
    else:
        value_axis.set_major_locator(MaxNLocator(integer=True))
        top = max((v for values in series.values() for v in values if v == v), default=0)
        (axes.set_xlim if horizontal else axes.set_ylim)(0, max(1, top) * 1.15)
    if horizontal:
        axes.set_yticks(ticks, categories)
        axes.invert_yaxis()
        axes.set_xlabel(value_label)
        axes.set_ylabel(category_label)
    else:
        axes.set_xticks(ticks, categories)
        axes.set_ylabel(value_label)
        axes.set_xlabel(category_label)
    axes.set_title(title)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _comparison_chart(path: Path, report: EvaluationReport) -> None:
    """Each comparison's improvement (positive: the second version is better) with its 95 % interval."""
    pyplot = _pyplot()
    rows = [c for c in report.comparisons if c.figures.get("difference") is not None]
    figure, axes = pyplot.subplots(figsize=(9, 1.6 + 0.5 * len(rows)))
    labels, centres, lows, highs = [], [], [], []
    for c in rows:
        sign = 1 if c.figures["higher_is_better"] else -1
        low, high = c.figures["ci95"]
        centre = sign * c.figures["difference"]
        low, high = (sign * low, sign * high) if low is not None and high is not None else (centre, centre)
        labels.append(f"{c.control} ({FIGURE_WORDS[c.figures['figure']]}): {model_label(report, c.b)}")
        centres.append(centre)
        lows.append(centre - min(low, high))
        highs.append(max(low, high) - centre)
    positions = list(range(len(rows)))
    axes.errorbar(centres, positions, xerr=[lows, highs], fmt="o", capsize=4, color="tab:blue")
    for y, x in zip(positions, centres, strict=True):
        axes.annotate(f"{x:+.3f}", (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    axes.axvline(0, color="grey", linewidth=1)
    axes.set_yticks(positions, labels)
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.invert_yaxis()
    first = model_label(report, rows[0].a) if rows else ""
    axes.set_xlabel(f"improvement over {first} (positive: better; for MAE and edit ratio, the decrease)")
    axes.set_title("Model versions compared: difference with 95 % bootstrap interval")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _label_series(
    report: EvaluationReport, control: str, distributions: Mapping[str, Any], values: Sequence[str]
) -> dict[str, list[float]]:
    """Counts per value: people's (once when every version was judged on the same answers, else per version's
    tasks), then each version that filled the control at all."""

    def per_value(d: Mapping[str, Any], key: str) -> list[float]:
        mine = dict(zip(map(str, d["values"]), d[key], strict=True))
        return [mine.get(x, 0) for x in values]

    people = {v: per_value(d, "truth") for v, d in distributions.items()}
    series: dict[str, list[float]] = {}
    if len({tuple(counts) for counts in people.values()}) == 1:
        series[_PEOPLE] = next(iter(people.values()))
    else:
        series |= {f"{_PEOPLE}, tasks of {model_label(report, v)}": counts for v, counts in people.items()}
    for v, d in distributions.items():
        if report.models[v].controls[control]["answered"]:
            series[model_label(report, v)] = per_value(d, "predicted")
    return series


def _charts(report: EvaluationReport, out_dir: Path, stem: str) -> dict[str, Path]:
    made: dict[str, Path] = {}

    def path(slug: str) -> Path:
        return out_dir / f"{stem}-{_SAFE.sub('_', slug)}.png"

    versions = list(report.models)
    compared = [
        c
        for c in report.controls
        if any(report.models[v].controls[c.name].get("agreement") is not None for v in versions)
    ]
    if compared:
        series: dict[str, list[float]] = {
            model_label(report, v): [_or_nan(report.models[v].controls[c.name].get("agreement")) for c in compared]
            for v in versions
        }
        if any(c.name in report.human for c in compared):
            series[_HUMAN] = [_or_nan(report.human.get(c.name, {}).get("agreement")) for c in compared]
        made["agreement"] = path("agreement")
        _grouped(
            made["agreement"],
            "Agreement with people's answers, per control",
            [f"{c.name}\n({_MAIN_WORDS[c.family]})" for c in compared],
            series,
            value_label="share of tasks agreeing",
            category_label="control (figure)",
            share=True,
            horizontal=True,
        )
    for control in report.controls:
        distributions: dict[str, Any] = {
            v: d
            for v in versions
            if (d := report.models[v].controls[control.name].get("distribution"))
            and (sum(d["truth"]) or sum(d["predicted"]))
        }
        if not distributions:
            continue
        scalar = control.family is Evaluation.SCALAR
        seen = {x for d in distributions.values() for x in d["values"]}
        ordered = (
            sorted(seen)
            if scalar
            else [x for x in dict.fromkeys(x for d in distributions.values() for x in d["values"])]
        )
        values = [str(x) for x in ordered]
        if len(values) > _MOST_BARS:  # e.g. a Number with many distinct values: its table says more than bars
            continue
        counts = _label_series(report, control.name, distributions, values)
        key = f"labels:{control.name}"
        made[key] = path(f"labels-{control.name}")
        _grouped(
            made[key],
            f"{control.tag} '{control.name}': people's answers and each model's, per {'value' if scalar else 'label'}",
            values,
            counts,
            value_label="tasks",
            category_label="value" if scalar else "label",
            share=False,
            horizontal=not scalar,
        )
    if any(c.figures.get("difference") is not None for c in report.comparisons):
        made["comparison"] = path("comparison")
        _comparison_chart(made["comparison"], report)
    return made


def write_report(report: EvaluationReport, out_dir: Path, stem: str = "report") -> list[Path]:
    """Write ``<stem>.json``, the charts ``<stem>-*.png``, ``<stem>.md`` and ``<stem>.html`` into ``out_dir``;
    return the files written, the Markdown first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = _charts(report, out_dir, stem)
    items = list(blocks(report, {key: p.name for key, p in charts.items()}))
    markdown, data, page = (out_dir / f"{stem}{suffix}" for suffix in (".md", ".json", ".html"))
    data.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown.write_text(render_markdown(items), encoding="utf-8")
    page.write_text(render_html(items, {p.name: p.read_bytes() for p in charts.values()}), encoding="utf-8")
    return [markdown, data, page, *charts.values()]


def print_summary(report: EvaluationReport, console: Console) -> None:
    """The report's gist on a terminal: one table of every control and version, then the comparisons in words."""
    table = Table(title=f"{report.project_title} (project {report.project_id}): predictions against people")
    for column in ("control", "model", "tasks", "coverage", "figure", "value", "people with each other"):
        table.add_column(column, justify="left" if column in ("control", "model", "figure") else "right")
    for control in report.controls:
        human = report.human.get(control.name)
        for version, model in report.models.items():
            figures = model.controls[control.name]
            table.add_row(
                f"{control.name} ({control.tag})",
                model_label(report, version),
                str(figures["tasks"]),
                _percent(figures["coverage"]),
                _MAIN_WORDS[control.family],
                _percent(figures.get("agreement")),
                _percent(human["agreement"]) if human else "-",
            )
    console.print(table)
    for comparison in report.comparisons:
        console.print(f"{comparison.control}: {comparison.verdict}", highlight=False)
    console.print(report.describe(), highlight=False)
