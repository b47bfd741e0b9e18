"""The population-based-training lineages of a sweep, read back (the files that
learning.job.population writes, through learning.records.lineage): per job its exploits
and donors, its schedule of settings per training iteration, and the ancestry of its
final model (the chain of jobs whose training its weights went through).

The inspection rebuilds the sweep's global file from the jobs' files (as the jobs do),
and otherwise only reads. A lineage file that cannot be read, names another job than its
file name, or does not hold together (iterations outside the job's training iterations)
is skipped with a note; the values in the files are shown as written (escaped by their
readers).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.contract import LINEAGE_DIR, SWEEP_LINEAGE_FILE
from learning.records.lineage import (
    Exploit,
    Lineage,
    ScheduleEntry,
    read_lineage,
    write_sweep_lineage,
)

#: more training iterations than any chained sweep has: a lineage claiming more is skipped
MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class Segment:
    """Training iterations ``first``..``last`` (1-based) of a final model's history, trained
    by job ``job_id`` with its schedule's values; ``known`` is False for a donor without a
    readable lineage (its own history before the copy is unknown)."""

    job_id: int
    first: int
    last: int
    known: bool = True


@dataclass
class SweepLineages:
    """Every usable lineage of a sweep, by job id."""

    jobs: dict[int, Lineage]

    def __bool__(self) -> bool:
        return bool(self.jobs)

    @property
    def mutations(self) -> list[str]:
        """The mutated parameters of all jobs, in the order they first appear."""
        names: list[str] = []
        for lineage in self.jobs.values():
            for name in [*lineage.mutations, *(k for e in lineage.schedule for k in e.values)]:
                if name not in names:
                    names.append(name)
        return names

    def exploits(self, job_id: int) -> list[Exploit]:
        """The job's exploits, in iteration order (checked on read)."""
        lineage = self.jobs.get(job_id)
        return list(lineage.exploits) if lineage else []

    def exploited_label(self, job_id: int) -> str:
        """The table's mark: "exploited after 1, 2 (from jobs 1, 0)"; "" for a job that
        never continued from another job's checkpoint."""
        exploits = self.exploits(job_id)
        if not exploits:
            return ""
        after = ", ".join(str(e.iteration) for e in exploits)
        donors = ", ".join(str(e.donor) for e in exploits)
        return f"exploited after {after} (from job{'s' if len(exploits) > 1 else ''} {donors})"

    def ancestry(self, job_id: int) -> list[Segment]:
        """Where job ``job_id``'s final model comes from, first iteration first: its last
        exploit copied the donor's checkpoint after iteration k, which the donor trained
        from its own model after k-1, which came from the donor's last exploit before k,
        and so on. Empty for a job without a lineage."""
        lineage = self.jobs.get(job_id)
        if lineage is None:
            return []
        segments: list[Segment] = []
        upto = iterations_of(lineage)
        exploited_after: dict[int, list[int]] = {}  # per job: its exploits' iterations
        while upto >= 1:
            if lineage is None:  # a donor without a lineage: its history is unknown
                segments.append(Segment(job_id, 1, upto, known=False))
                break
            if job_id not in exploited_after:
                exploited_after[job_id] = [e.iteration for e in lineage.exploits]
            before = bisect_left(exploited_after[job_id], upto)
            if before == 0:  # no exploit before iteration upto
                segments.append(Segment(job_id, 1, upto))
                break
            last = lineage.exploits[before - 1]
            segments.append(Segment(job_id, last.iteration + 1, upto))
            # the donor's checkpoint after donor_iteration: always earlier (checked on read)
            job_id, upto = last.donor, last.donor_iteration
            lineage = self.jobs.get(job_id)
        return segments[::-1]

    def ancestry_values(self, job_id: int) -> list[dict[str, Any]]:
        """The values that trained each iteration (1 first) of the job's final model."""
        values: list[dict[str, Any]] = []
        schedules: dict[int, list[dict[str, Any]]] = {}
        for segment in self.ancestry(job_id):
            lineage = self.jobs.get(segment.job_id) if segment.known else None
            if lineage is None:
                values += [{}] * (segment.last - segment.first + 1)
                continue
            if segment.job_id not in schedules:
                schedules[segment.job_id] = values_per_iteration(lineage)
            schedule = schedules[segment.job_id]
            values += [schedule[i] if i < len(schedule) else {}
                       for i in range(segment.first - 1, segment.last)]
        return values

    def replay_schedule(self, job_id: int) -> list[ScheduleEntry] | None:
        """The values that trained the job's final model (:meth:`ancestry_values`) as a
        schedule to replay from scratch (``pbt.schedule``: an entry where they change),
        as Ray Tune's PBT replay follows a trial's lineage; None when a job on the way
        has no usable lineage (the values of some iterations are unknown)."""
        values = self.ancestry_values(job_id)
        if not values or not all(values):
            return None
        schedule: list[ScheduleEntry] = []
        for iteration, current in enumerate(values):
            if not schedule or schedule[-1].values != current:
                schedule.append(ScheduleEntry(iteration, dict(current)))
        return schedule


def iterations_of(lineage: Lineage) -> int:
    """The job's training iterations: as recorded, else as far as its schedule and
    decisions reach."""
    if lineage.training_iterations is not None:
        return lineage.training_iterations
    reach = [e.from_iteration + 1 for e in lineage.schedule]
    reach += [e.iteration + 1 for e in lineage.exploits] + [k + 1 for k in lineage.decided]
    return max(reach, default=1)


def values_per_iteration(lineage: Lineage) -> list[dict[str, Any]]:
    """The job's schedule: the values that trained each of its training iterations (the
    first at index 0; as learning.records.lineage.values_at)."""
    steps = schedule_steps(lineage)
    ends = [start for start, _ in steps[1:]] + [iterations_of(lineage)]
    return [dict(values) for (start, values), end in zip(steps, ends, strict=True)
            for _ in range(start, end)]


def schedule_steps(lineage: Lineage) -> list[tuple[int, dict[str, Any]]]:
    """The schedule as (0-based first iteration, values) where the values change, in
    order, from iteration 0 on (its entries start in increasing order: checked on read)."""
    steps: list[tuple[int, dict[str, Any]]] = [(0, {})]
    for entry in lineage.schedule:
        if entry.from_iteration == steps[-1][0]:
            steps[-1] = (entry.from_iteration, entry.values)
        elif entry.values != steps[-1][1]:
            steps.append((entry.from_iteration, entry.values))
    return steps


def inconsistency(lineage: Lineage) -> str | None:
    """Why a lineage does not hold together, or None."""
    total = lineage.training_iterations
    if total is not None and not 1 <= total <= MAX_ITERATIONS:
        return f"training_iterations {total} is not between 1 and {MAX_ITERATIONS}"
    limit = total if total is not None else MAX_ITERATIONS
    starts = [entry.from_iteration for entry in lineage.schedule]
    if starts != sorted(set(starts)):
        return f"its schedule's entries start at iterations {starts}, not in increasing order"
    if starts and not 0 <= starts[0] <= starts[-1] < limit:
        return f"its schedule starts at iterations {starts[0]}..{starts[-1]} (0-based)," \
               f" outside the job's {limit}"
    iterations = [exploit.iteration for exploit in lineage.exploits]
    if iterations != sorted(set(iterations)):
        return f"its exploits are after iterations {iterations}, not in increasing order"
    for exploit in lineage.exploits:
        if not 1 <= exploit.iteration < limit:
            return f"an exploit after iteration {exploit.iteration}, outside 1..{limit - 1}"
        if not 1 <= exploit.donor_iteration <= exploit.iteration:
            return f"the exploit after iteration {exploit.iteration} copied the donor's" \
                   f" checkpoint after iteration {exploit.donor_iteration}, not an earlier" \
                   " or the same one"
    return None


def read_sweep_lineages(root: Path, notes: list[str] | None = None) -> SweepLineages:
    """The lineages in ``<root>/pbt_lineage/job_<id>.json``; a file that cannot be used is
    skipped with a note (if ``notes`` is given)."""
    folder = Path(root) / LINEAGE_DIR
    jobs: dict[int, Lineage] = {}
    skipped: list[str] = []
    for path in sorted(folder.glob("job_*.json")) if folder.is_dir() else []:
        lineage = read_lineage(path)
        if lineage is None:
            problem = "unreadable, or not of the format lttfs-lineage/1"
        elif lineage.job_id is None or path.name != f"job_{lineage.job_id}.json":
            problem = f"names job {lineage.job_id}"
        else:
            problem = inconsistency(lineage)
        if problem:
            skipped.append(f"{path.name} ({problem})")
        else:
            jobs[lineage.job_id] = lineage
    if skipped and notes is not None:
        notes.append(f"{folder}: population-based-training lineages skipped: "
                     + "; ".join(skipped))
    return SweepLineages(dict(sorted(jobs.items())))


def rebuild_sweep_lineage(root: Path, notes: list[str]) -> None:
    """Rebuild the sweep's global file (pbt_lineage.json) from the jobs' files, as each
    job does after its own; a sweep without lineages is left alone, a folder that cannot
    be written gets a note."""
    if not (Path(root) / LINEAGE_DIR).is_dir():
        return
    try:
        write_sweep_lineage(root)
    except OSError as e:
        notes.append(f"cannot rebuild {Path(root) / SWEEP_LINEAGE_FILE} from {LINEAGE_DIR}/:"
                     f" {e.strerror or e}; the inspection read the jobs' files")


def is_number(value: Any) -> bool:
    """A value the schedule plots put on a numeric axis (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)
