"""One measured figure beside its baseline, and the table they are printed in."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    stage: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None  # same unit, measured in the same run
    baseline_name: str = ""
    target: float | None = None  # the least ratio aimed for (value / baseline); None: no ratio target
    lower_is_better: bool = False
    limit: float | None = None  # an absolute target in ``unit`` (at most, or at least when not lower_is_better)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.value:
            return None
        return self.baseline / self.value if self.lower_is_better else self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is not None and self.ratio is not None:
            return self.ratio >= self.target
        if self.limit is not None:
            return self.value <= self.limit if self.lower_is_better else self.value >= self.limit
        return None


def best_rate(work: Callable[[], int], repeats: int) -> float:
    """Items per second of the fastest of ``repeats`` runs; ``work`` returns how many items it did."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        items = work()
        best = max(best, items / (time.perf_counter() - started))
    return best


def best_rate_per_item(work: Callable[[T], int], items: Sequence[T], repeats: int) -> float:
    """Units per CPU second, timing each item on its own and keeping its fastest of ``repeats`` runs.

    On a shared machine a wall clock also measures whatever else runs; the CPU
    time of each item, at its fastest, is what the code itself costs.  ``work``
    returns how many units it did.
    """
    units, seconds = 0, 0.0
    for item in items:
        fastest = math.inf
        for _ in range(repeats):
            started = time.process_time()
            done = work(item)
            fastest = min(fastest, time.process_time() - started)
        units, seconds = units + done, seconds + fastest
    return units / seconds


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def _ratio(value: float) -> str:
    return f"1/{1 / value:.1f}" if value < 1 else f"{value:.2f}x"


def render(figures: Sequence[Figure]) -> str:
    """A Markdown table: stage, measure, figure, baseline, ratio, target, met."""
    header = ("Stage", "Measure", "Figure", "Baseline (same run)", "Ratio", "Target", "Met")
    rows = [header, tuple("---" for _ in header)]
    for figure in figures:
        baseline = f"{_number(figure.baseline)} {figure.unit} ({figure.baseline_name})" if figure.baseline else ""
        target = ""
        if figure.target is not None:
            target = f">= {_ratio(figure.target)}"
        elif figure.limit is not None:
            target = f"{'<=' if figure.lower_is_better else '>='} {_number(figure.limit)} {figure.unit}"
        met = {True: "yes", False: "NO", None: ""}[figure.met]
        measure = figure.measure + (f" ({figure.note})" if figure.note else "")
        ratio = _ratio(figure.ratio) if figure.ratio is not None else ""
        rows.append((figure.stage, measure, f"{_number(figure.value)} {figure.unit}", baseline, ratio, target, met))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
