"""benchmarks/sweep_costs.py on job states built by hand: how each fixed cost of a chunk
is read, and the engine latency matched to the worker that a job process freed."""

from __future__ import annotations

import json

import pytest

from benchmarks.sweep_costs import Chunk, assign_engine_latency, cost_figures, read_sweep
from learning.records.job_state import Attempt, JobState, Score, Segment, save_state


def segment(started: float, ended: float) -> Segment:
    return Segment(pid=1, host="h", started=started, main_started=started + 0.5, ended=ended,
                   outcome="finished", config_seconds=0.01, fork_server_seconds=2.0)


def test_engine_latency_is_matched_to_the_freed_worker():
    chunks = [Chunk(segment(s, e), [], []) for s, e in
              [(0.0, 10.0), (0.1, 20.0), (10.4, 30.0), (21.0, 40.0)]]
    assign_engine_latency(chunks, workers=2)
    assert [c.engine for c in chunks] == [None, None, pytest.approx(0.4), pytest.approx(1.0)]


def test_the_fixed_costs_of_a_chunk(tmp_path):
    state = JobState.new("d", 2, 3, [7])
    run = state.runs[0]
    for number, (started, ended, training) in enumerate([(1.0, 5.0, 3.0), (5.1, 9.0, 5.2)]):
        attempt = Attempt(dir=f"run_0.{number}-0", iteration=number, attempt=0, seed=7,
                          num_timesteps=64, load_path="", started=started, ended=ended,
                          outcome="ok", cpus=[0], warm=True)
        run.attempts.append(attempt)
        logs = tmp_path / attempt.dir / "logs"
        logs.mkdir(parents=True)
        (logs / "run_info.json").write_text(json.dumps({"training_started": training}))
    run.score = Score(eprewmean=0.0, eval_reward=0.0, timesteps=128, model="m")
    state.segments.append(segment(0.0, 9.5))
    save_state(tmp_path, state)
    costs = read_sweep([tmp_path], workers=1)
    (chunk,) = costs.chunks
    assert costs.useful_steps == 128
    assert chunk.job_start == 0.5 and chunk.to_first_learner == 0.5
    assert chunk.learner_starts[0] == 2.0 and abs(chunk.learner_starts[1] - 0.1) < 1e-9
    assert abs(chunk.between_learners - 0.1) < 1e-9 and chunk.job_end == 0.5
    assert abs(chunk.fixed - (0.5 + 0.5 + 2.0 + 0.1 + 0.1 + 0.5)) < 1e-9
    figures = cost_figures(costs)
    assert figures["warm_learners"] == 2 and figures["first_learner_start"]["mean"] == 2.0
    assert figures["fork_server_imports"]["mean"] == 2.0
