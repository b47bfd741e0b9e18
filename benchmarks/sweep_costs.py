"""The fixed costs of a sweep's jobs, read back from their folders (for sweep_efficiency.py).

Every cluster job (one job process: a *segment* of job_state.json,
learning.records.job_state) costs, besides its learners' training:

- **engine latency**: from the end of a job process to the start of the next one on the
  freed worker (cluster_utils' local engine: its loop, the job script, bash, the
  venv's activation). The ends and starts are matched in time order: with K workers, the
  (K+i)-th job process started on the worker the i-th one freed;
- **job start**: process start to the job's main function (interpreter, imports);
- **config check**: the check of the merged configs (a new job; Segment.config_seconds);
- **to the first learner**: main function to the first learner's start (settings,
  cluster_utils' registration, the check, the restart state, the fork server's start);
- **learner start**: a learner's start (the job's clock, Attempt.started) to the start of
  its training (run_info.json ``training_started``: after its imports, config, env and
  model). The first learner of a job process with warm starts also waits for the fork
  server's imports (Segment.fork_server_seconds): shown apart;
- **job end**: its last learner's end to the job process's end (metrics, cluster_utils).

- **between learners**: a learner's end to the next learner's start on its CPUs.

The fixed cost of a chunk is the sum of these for one job process (its learner starts
summed: one CPU per job runs them one after the other).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from learning.records.job_state import Attempt, JobState, Segment, load_state


@dataclass
class Chunk:
    """One job process and its learners."""

    segment: Segment
    attempts: list[Attempt]
    learner_starts: list[float]  #: training_started - started, per attempt with both
    engine: float | None = None  #: the engine's latency before it (None: a first start)

    @property
    def job_start(self) -> float:
        return self.segment.main_started - self.segment.started

    @property
    def to_first_learner(self) -> float | None:
        starts = [a.started for a in self.attempts if a.started]
        return min(starts) - self.segment.main_started if starts else None

    @property
    def job_end(self) -> float | None:
        ends = [a.ended for a in self.attempts if a.ended]
        return self.segment.ended - max(ends) if ends and self.segment.ended else None

    @property
    def between_learners(self) -> float:
        """Seconds from a learner's end to the next start on its CPUs (the job settling
        it and preparing the next), summed."""
        gaps = 0.0
        slots: dict[tuple, list[Attempt]] = {}
        for attempt in self.attempts:
            slots.setdefault(tuple(attempt.cpus or ()), []).append(attempt)
        for attempts in slots.values():
            attempts.sort(key=lambda a: a.started)
            gaps += sum(max(b.started - a.ended, 0.0)
                        for a, b in zip(attempts, attempts[1:], strict=False))
        return gaps

    @property
    def fixed(self) -> float:
        """Engine latency, job start, to the first learner, every learner's start (the
        first one's includes the wait for the fork server), the gaps between learners,
        job end."""
        return ((self.engine or 0.0) + self.job_start + (self.to_first_learner or 0.0)
                + sum(self.learner_starts) + self.between_learners + (self.job_end or 0.0))


@dataclass
class SweepCosts:
    chunks: list[Chunk] = field(default_factory=list)
    useful_steps: int = 0
    learner_wall: float = 0.0  #: seconds with a learner running, summed over learners
    first_start: float = float("inf")
    last_end: float = 0.0


def training_started(working_dir: Path, attempt: Attempt) -> float | None:
    try:
        info = json.loads((working_dir / attempt.dir / "logs" / "run_info.json").read_text())
    except (OSError, ValueError):
        return None
    value = info.get("training_started")
    return value if isinstance(value, (int, float)) else None


def read_sweep(working_dirs: list[Path], workers: int) -> SweepCosts:
    costs = SweepCosts()
    for working_dir in working_dirs:
        state: JobState | None = load_state(working_dir)
        if state is None:
            continue
        costs.useful_steps += sum(run.score.timesteps or 0 for run in state.runs if run.score)
        attempts = [a for run in state.runs for a in run.attempts if a.started and a.ended]
        costs.learner_wall += sum(a.ended - a.started for a in attempts)
        for segment in state.segments:
            if segment.ended is None:
                continue
            mine = [a for a in attempts if segment.started <= a.started <= segment.ended]
            starts = [training_started(working_dir, a) - a.started for a in mine
                      if training_started(working_dir, a) is not None]
            costs.chunks.append(Chunk(segment, mine, starts))
            costs.first_start = min(costs.first_start, segment.started)
            costs.last_end = max(costs.last_end, segment.ended)
    assign_engine_latency(costs.chunks, workers)
    return costs


def assign_engine_latency(chunks: list[Chunk], workers: int) -> None:
    """Each job process after the first ``workers`` started on the worker that the
    earliest unmatched end freed: its engine latency is the time between the two."""
    starts = sorted(chunks, key=lambda c: c.segment.started)
    ends = sorted(c.segment.ended for c in chunks)
    for chunk, freed in zip(starts[workers:], ends, strict=False):
        chunk.engine = max(chunk.segment.started - freed, 0.0)


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "max": None, "n": 0}
    return {"mean": round(statistics.mean(values), 3), "max": round(max(values), 3),
            "n": len(values)}


def cost_figures(costs: SweepCosts) -> dict:
    chunks = costs.chunks
    first_starts, later_starts = [], []
    for chunk in chunks:
        if chunk.learner_starts:
            first_starts.append(chunk.learner_starts[0])
            later_starts += chunk.learner_starts[1:]
    attempts = sum(len(c.attempts) for c in chunks)
    fixed = [c.fixed for c in chunks]
    return {
        "cluster_jobs": len(chunks),
        "learners": attempts,
        "engine_latency_per_chunk": summary([c.engine for c in chunks if c.engine is not None]),
        "job_start": summary([c.job_start for c in chunks]),
        "config_check": summary([c.segment.config_seconds for c in chunks
                                 if c.segment.config_seconds is not None]),
        "to_first_learner": summary([c.to_first_learner for c in chunks
                                     if c.to_first_learner is not None]),
        "fork_server_imports": summary([c.segment.fork_server_seconds for c in chunks
                                        if c.segment.fork_server_seconds]),
        "first_learner_start": summary(first_starts),
        "learner_start": summary(later_starts),
        "between_learners_per_chunk": summary([c.between_learners for c in chunks]),
        "job_end": summary([c.job_end for c in chunks if c.job_end is not None]),
        "fixed_per_chunk": summary(fixed),
        "fixed_per_learner": round(sum(fixed) / attempts, 3) if attempts else None,
        "warm_learners": sum(bool(a.warm) for c in chunks for a in c.attempts),
    }
