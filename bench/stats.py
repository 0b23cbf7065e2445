"""Medians, interleaved repetitions and the report table."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Comparison:
    """One ratio: candidate samples against reference samples taken side by side in the same run."""

    key: str
    title: str
    candidate: str
    reference: str
    goal: float
    unit: str = "ms"
    cand: list[float] = field(default_factory=lambda: list[float]())
    ref: list[float] = field(default_factory=lambda: list[float]())
    notes: list[str] = field(default_factory=lambda: list[str]())
    primary: bool = True  # secondary rows are reported but do not decide --strict
    error: str | None = None

    @property
    def cand_median(self) -> float:
        return statistics.median(self.cand)

    @property
    def ref_median(self) -> float:
        return statistics.median(self.ref)

    @property
    def ratio(self) -> float:
        return self.cand_median / self.ref_median

    @property
    def paired_ratio(self) -> float:
        """Median of the per-repetition ratios: a cross-check that is robust to drift between repetitions."""
        return statistics.median(c / r for c, r in zip(self.cand, self.ref, strict=False))

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.cand) and bool(self.ref) and self.ratio <= self.goal

    @property
    def status(self) -> str:
        if self.error is not None:
            return "ERROR"
        return "PASS" if self.passed else "FAIL"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "key": self.key,
            "title": self.title,
            "candidate": self.candidate,
            "reference": self.reference,
            "unit": self.unit,
            "goal": self.goal,
            "primary": self.primary,
            "status": self.status,
            "candidate_samples": self.cand,
            "reference_samples": self.ref,
            "notes": self.notes,
        }
        if self.error is None and self.cand and self.ref:
            data.update(
                candidate_median=self.cand_median,
                reference_median=self.ref_median,
                ratio=self.ratio,
                paired_ratio=self.paired_ratio,
            )
        else:
            data["error"] = self.error
        return data


def spread(values: list[float]) -> str:
    """The interquartile range, as a feel for the noise."""
    if len(values) < 4:
        return f"{min(values):.1f}-{max(values):.1f}"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.1f}-{q[2]:.1f}"


Sampler = Callable[[int], Awaitable[float]]


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of n sides in which each side comes right after each other side equally often (a Williams design,
    the balanced Latin square of crossover trials; its mirror rows too when n is odd). A fixed cyclic rotation
    keeps one side always right after the same other: a side that leaves work for the disk (a sync, a rename)
    then always lands it on the same neighbour's timing."""
    first = [0]
    low, high = 1, n - 1
    while len(first) < n:
        first.append(low if len(first) % 2 else high)
        if len(first) % 2:
            high -= 1
        else:
            low += 1
    rows = [[(side + shift) % n for side in first] for shift in range(n)]
    return rows + [row[::-1] for row in rows] if n % 2 else rows


async def rotate(reps: int, sides: Sequence[tuple[list[float], Sampler]]) -> None:
    """Run every side once per repetition, in balanced orders (`balanced_orders`), so slow drift and what one
    side leaves behind hit all sides alike. The disk is settled first (a checkout is long written back).

    Each sampler gets the repetition index and returns one sample (already in the comparison's unit).
    """
    os.sync()  # the setup's copies written back first: their writeback must not land on the timed calls
    orders = balanced_orders(len(sides))
    for i in range(reps):
        for index in orders[i % len(orders)]:
            samples, sampler = sides[index]
            samples.append(await sampler(i))


async def interleave(reps: int, candidate: Sampler, reference: Sampler, comparison: Comparison) -> None:
    """Candidate and reference alternately (ABBA order) into `comparison`."""
    await rotate(reps, [(comparison.cand, candidate), (comparison.ref, reference)])


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.ms` — wall-clock milliseconds with perf_counter."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000.0


def render_table(results: list[Comparison]) -> str:
    headers = ["#", "measure (candidate vs reference)", "unit", "candidate", "reference", "ratio", "paired", "goal", ""]
    rows: list[list[str]] = []
    for c in results:
        if c.error is not None or not c.cand or not c.ref:
            rows.append([c.key, c.title, c.unit, "-", "-", "-", "-", f"<= {c.goal:g}x", "ERROR"])
            continue
        status = c.status if c.primary else f"{c.status} (secondary)"
        rows.append(
            [
                c.key,
                c.title,
                c.unit,
                f"{c.cand_median:.1f}",
                f"{c.ref_median:.1f}",
                f"{c.ratio:.2f}x",
                f"{c.paired_ratio:.2f}x",
                f"<= {c.goal:g}x",
                status,
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def render_details(results: list[Comparison]) -> str:
    out: list[str] = []
    for c in results:
        out.append(f"[{c.key}] {c.title}")
        out.append(f"    candidate: {c.candidate}")
        out.append(f"    reference: {c.reference}")
        if c.error is not None:
            out.append(f"    ERROR: {c.error}")
        elif c.cand and c.ref:
            out.append(
                f"    n={len(c.cand)}/{len(c.ref)}; candidate median {c.cand_median:.1f} {c.unit} "
                f"(IQR {spread(c.cand)}), reference median {c.ref_median:.1f} {c.unit} (IQR {spread(c.ref)})"
            )
        out.extend(f"    note: {n}" for n in c.notes)
    return "\n".join(out)
