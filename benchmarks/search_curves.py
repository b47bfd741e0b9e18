"""Anytime curves of a search (best setting found so far against cost spent) and the three
readings benchmarks/search_efficiency.py takes from them and from the jobs' list.

A sweep's curve is a list of ``(cost, quality, jobs)`` points in the order its jobs
finished: ``cost`` is what all jobs finished so far spent (timesteps), ``quality`` the true
final reward of the best job so far (best by its reported metric, as a user would pick
it), ``jobs`` how many jobs have finished. Between points the curve holds its last value
(a step function); before the first point it has no value.

- **Equal samples:** a pruned sweep's first jobs in sampling order (as many as the unpruned
  sweep ran; with the same seed, mostly the same settings) against the unpruned sweep:
  cost and the winner's true final reward. Read by job id, not by finishing order, since
  stopped jobs finish first.
- **Equal final quality:** the unpruned sweeps (mean over seeds) end with quality ``Q``
  after spending ``B``. The pruned sweeps' mean curve reaches ``Q - tolerance`` (the noise
  of one job's metric) after spending ``c``; CPU saved = ``1 - c / B``. Also printed: the
  saving against the unpruned mean curve's own cost to get within the tolerance of ``Q``
  (``1 - c / c0``), the stricter reading.
- **Equal budget:** the pruned mean curve's quality at cost ``B`` against ``Q`` (at its end
  if the pruned sweeps spent less than ``B``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

Curve = list[tuple[float, float, int]]


def value_at(curve: Curve, cost: float) -> float | None:
    """The curve's quality once ``cost`` has been spent (None before its first point)."""
    value = None
    for spent, quality, _ in curve:
        if spent > cost:
            break
        value = quality
    return value


def mean_curve(curves: list[Curve]) -> list[tuple[float, float]]:
    """The mean over seeds at every cost where one of the curves steps, from the first cost
    where all have a value up to the smallest total cost (beyond it a sweep has no point)."""
    end = min(curve[-1][0] for curve in curves)
    costs = sorted({spent for curve in curves for spent, _, _ in curve if spent <= end})
    points = []
    for cost in costs:
        values = [value_at(curve, cost) for curve in curves]
        if None not in values:
            points.append((cost, statistics.mean(values)))
    return points


def first_cost_reaching(points: list[tuple[float, float]], level: float) -> float | None:
    return next((cost for cost, quality in points if quality >= level), None)


def first_jobs(by_id: list[tuple[int, float, float, float]], jobs: int) -> tuple[float, float]:
    """Cost and quality of a sweep's first ``jobs`` jobs in sampling order (by job id):
    what they spent together, and the true final reward of the best of them by reported
    metric. ``by_id``: (job id, cost, reported metric, true final reward) per job."""
    first = sorted(by_id)[:jobs]
    best = max(first, key=lambda job: job[2])
    return sum(job[1] for job in first), best[3]


@dataclass
class Comparison:
    """Pruned against unpruned sweeps of one optimizer (means over seeds)."""
    budget: float                   # B: the unpruned sweeps' mean cost
    final_quality: float            # Q: their mean final quality
    unpruned_reach: float | None    # c0: the unpruned mean curve's cost to Q - tolerance
    pruned_reach: float | None      # c: the pruned mean curve's cost to Q - tolerance
    pruned_at_budget: float | None  # the pruned mean curve's quality at cost B (or at its
    pruned_end: float               # end, this cost, if the pruned sweeps spent less)
    tolerance: float

    @property
    def saved(self) -> float | None:
        return None if self.pruned_reach is None else 1 - self.pruned_reach / self.budget

    @property
    def saved_strict(self) -> float | None:
        if self.pruned_reach is None or not self.unpruned_reach:
            return None
        return 1 - self.pruned_reach / self.unpruned_reach

    @property
    def change_at_budget(self) -> float | None:
        if self.pruned_at_budget is None:
            return None
        return self.pruned_at_budget - self.final_quality

    def meets(self, goal: float) -> bool:
        """At least ``goal`` saved at equal final quality, and at the unpruned budget the
        pruned winner within the tolerance of the unpruned one."""
        return (self.saved is not None and self.saved >= goal
                and self.change_at_budget is not None
                and self.change_at_budget >= -self.tolerance)


def compare(unpruned: list[Curve], pruned: list[Curve], tolerance: float) -> Comparison:
    budget = statistics.mean(curve[-1][0] for curve in unpruned)
    final = statistics.mean(curve[-1][1] for curve in unpruned)
    level = final - tolerance
    pruned_mean = mean_curve(pruned)
    end = pruned_mean[-1][0] if pruned_mean else 0.0
    at_budget = value_at([(c, q, 0) for c, q in pruned_mean], min(budget, end))
    return Comparison(budget=budget, final_quality=final,
                      unpruned_reach=first_cost_reaching(mean_curve(unpruned), level),
                      pruned_reach=first_cost_reaching(pruned_mean, level),
                      pruned_at_budget=at_budget,
                      pruned_end=end,
                      tolerance=tolerance)
