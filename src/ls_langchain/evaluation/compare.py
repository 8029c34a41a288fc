"""Two model versions side by side on the tasks both answered: the difference in a control's main figure with a
95 % bootstrap confidence interval (scipy), McNemar's exact test for accuracy, and a verdict in words."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest, bootstrap

from ls_langchain.evaluation.metrics import Columns, Tally, rounded

__all__ = ["FIGURE_WORDS", "compare", "label_of", "mcnemar_p"]

#: The main figures as the report writes them.
FIGURE_WORDS = {
    "accuracy": "accuracy",
    "mean_jaccard": "mean Jaccard",
    "mae": "mean absolute error",
    "exact_f1": "exact span F1",
    "mean_edit_ratio": "mean edit ratio",
}


def label_of(version: str, name: str | None) -> str:
    """A model version as people know it: its name beside its version where they differ."""
    return f"{name} ({version})" if name and name != version else version


_RESAMPLES = 2000
_CELLS = 1_000_000  # resampled values held at once (~8 MB): scipy resamples in batches of this size
_LEVEL = 0.95


def mcnemar_p(only_a: int, only_b: int) -> float:
    """McNemar's exact test: the two-sided p-value that tasks only A got right and tasks only B got right are
    equally likely (a binomial test on the discordant pairs)."""
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def _interval(a: Columns, b: Columns, tally: Tally) -> tuple[float | None, float | None]:
    """The 95 % percentile bootstrap interval of (B's figure - A's figure), resampling tasks (paired)."""
    names = sorted(a)
    samples = [a[n] for n in names] + [b[n] for n in names]
    if len(samples[0]) < 2:
        return None, None

    def difference(*resampled: Any, axis: int = -1) -> Any:
        half = len(names)
        return tally.statistic(dict(zip(names, resampled[half:], strict=True)), axis) - tally.statistic(
            dict(zip(names, resampled[:half], strict=True)), axis
        )

    result = bootstrap(
        samples,
        difference,
        paired=True,
        vectorized=True,
        n_resamples=_RESAMPLES,
        batch=max(1, _CELLS // (len(samples[0]) * len(samples))),
        confidence_level=_LEVEL,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    return rounded(result.confidence_interval.low), rounded(result.confidence_interval.high)


def compare(name_a: str, a: Tally, name_b: str, b: Tally, *, shown: tuple[str, str] | None = None) -> dict[str, Any]:
    """B against A on one control, on the tasks both versions answered; ``shown`` names them in the verdict
    (e.g. the model's name beside its version)."""
    shown_a, shown_b = shown or (name_a, name_b)
    ids_a, columns_a = a.per_task()
    ids_b, columns_b = b.per_task()
    common, at_a, at_b = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    found: dict[str, Any] = {"figure": a.main, "higher_is_better": a.higher_is_better, "tasks": len(common)}
    if not len(common):
        found["verdict"] = f"{shown_a} and {shown_b} answered no task in common: nothing to compare."
        return found
    paired_a = {k: v[at_a] for k, v in columns_a.items()}
    paired_b = {k: v[at_b] for k, v in columns_b.items()}
    value_a, value_b = (float(a.statistic(paired_a, 0)), float(b.statistic(paired_b, 0)))
    low, high = _interval(paired_a, paired_b, a)
    found |= {"a_value": rounded(value_a), "b_value": rounded(value_b), "difference": rounded(value_b - value_a)}
    found["ci95"] = [low, high]
    if "correct" in paired_a:
        only_a = int(np.sum(paired_a["correct"] & ~paired_b["correct"]))
        only_b = int(np.sum(paired_b["correct"] & ~paired_a["correct"]))
        p = mcnemar_p(only_a, only_b)
        found["mcnemar"] = {"only_a_right": only_a, "only_b_right": only_b, "p_value": rounded(p)}
        significant = p < 1 - _LEVEL
    else:
        significant = low is not None and high is not None and (low > 0 or high < 0)
    found["significant"] = significant
    found["better"] = (
        None
        if not significant or value_a == value_b
        else (name_b if (value_b > value_a) == a.higher_is_better else name_a)
    )
    better = {name_a: shown_a, name_b: shown_b}.get(found["better"])
    found["verdict"] = _verdict(found, shown_a, shown_b, better)
    return found


def _verdict(found: dict[str, Any], name_a: str, name_b: str, better: str | None) -> str:
    figure = FIGURE_WORDS.get(found["figure"], found["figure"])
    low, high = found["ci95"]
    interval = f"95 % CI {low:+.3f} to {high:+.3f}" if low is not None and high is not None else "no interval"
    test = f", McNemar p = {found['mcnemar']['p_value']:.3g}" if "mcnemar" in found else ""
    figures = (
        f"{figure} {found['a_value']:.3f} ({name_a}) vs {found['b_value']:.3f} ({name_b}), "
        f"difference {found['difference']:+.3f} ({interval}{test}) on {found['tasks']} tasks"
    )
    if better is None:
        return f"No significant difference: {figures}."
    direction = "higher" if found["higher_is_better"] else "lower"
    return f"{better} is better ({direction} {figure}): {figures}."
