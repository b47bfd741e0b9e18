"""The pruning rule, the intermediate record and breadth-first runs (no learner: the
attempts' evaluation.json files are written by the test, as a learner would)."""

from __future__ import annotations

import json
import math

import pytest

from learning.job.learner import learner_command
from learning.job.pruning import IterationRecorder, next_run, read_pruning
from learning.job.settings import JobConfigError
from learning.plugins.pruning import Evidence
from learning.records.intermediate import read_intermediate_record as read_record
from learning.records.intermediate import record_path as intermediate_record_path
from learning.records.job_state import FINISHED, Attempt, JobState


@pytest.mark.parametrize("settings, pattern", [
    ({"pruning": {"keep_fraction": 1.5}}, r"pruning.keep_fraction: .* number in \(0, 1\)"),
    ({"pruning": {"keep_fraction": True}}, r"pruning.keep_fraction"),
    ({"pruning": {"keep": 0.5}}, r"unknown setting pruning.keep; valid: pruning.keep_fraction"),
    ({"pruning": {"metric": "reward"}}, r"pruning.metric: 'reward' is not a job metric"),
    ({"pruning": {"min_jobs": 0}}, r"pruning.min_jobs: expected an integer >= 1"),
    ({"pruning": 0.5}, r"setting pruning: expected an object"),
    ({"intermediate_evaluation_episodes": 0}, r"intermediate_evaluation_episodes: expected"),
])
def test_bad_settings_name_the_setting(settings, pattern):
    with pytest.raises(JobConfigError, match=pattern):
        read_pruning(settings, training_iterations=3)


def test_pruning_needs_two_iterations_and_defaults_are_off():
    assert not read_pruning({}, 1).enabled
    with pytest.raises(JobConfigError, match="training_iterations >= 2"):
        read_pruning({"pruning": {"keep_fraction": 0.5}}, 1)
    options = read_pruning({"pruning": {"keep_fraction": 0.5, "min_jobs": 2},
                            "intermediate_evaluation_episodes": 4}, 2)
    assert options.enabled and options.rule.min_jobs == 2
    assert options.intermediate_evaluation_episodes == 4


def should_stop(value, peers, options):
    """The job's rule asked after iteration 1 of 3."""
    return options.rule.should_stop(Evidence(1, 3, value, tuple(peers), options.minimize,
                                              (value,)))


def options_of(**pruning):
    """The pruning options as the job reads them from its settings."""
    return read_pruning({"pruning": pruning}, training_iterations=3)


def test_rule_median_min_jobs_direction_and_nan():
    median = options_of(keep_fraction=0.5, min_jobs=4)
    assert should_stop(0.0, [1.0, 2.0, 3.0], median)[0] is False  # too few peers
    assert should_stop(0.0, [1.0, 2.0, 3.0, -1.0], median)[0] is True  # 3 of 4 better
    assert should_stop(1.5, [1.0, 2.0, 3.0, -1.0], median)[0] is False  # 2 of 4: not > half
    assert should_stop(math.nan, [1.0, 2.0, 3.0, -1.0], median)[0] is True
    lower = options_of(keep_fraction=0.5, min_jobs=4, minimize=True)
    assert should_stop(0.0, [1.0, 2.0, 3.0, -1.0], lower)[0] is False
    third = options_of(keep_fraction=1 / 3, min_jobs=3)
    assert should_stop(2.5, [1.0, 2.0, 3.0], third)[0] is False  # 1 of 3 better
    assert should_stop(1.5, [1.6, 2.0, 3.0], third)[0] is True


def test_runs_start_breadth_first():
    state = JobState.new("d", training_iterations=3, max_attempts=3, seeds=[5, 6, 7])
    state.runs[0].iteration = 1
    assert next_run(state).run == 1
    state.runs[1].iteration = state.runs[2].iteration = 1
    assert next_run(state).run == 0
    state.runs[0].status = FINISHED
    assert next_run(state).run == 1


def _finish_iteration(working_dir, run, iteration, reward):
    """What a learner leaves after a successful attempt at ``iteration``."""
    name = f"run_{run.run}.{iteration}-0"
    (working_dir / name / "logs").mkdir(parents=True)
    (working_dir / name / "logs" / "evaluation.json").write_text(json.dumps(
        {"mean_reward": reward, "hit_rate": 0.5, "return_rate": 0.1, "num_timesteps": 100}))
    attempt = Attempt(dir=name, iteration=iteration, attempt=0, seed=run.seed,
                      num_timesteps=100, load_path="", outcome="ok", timesteps=100,
                      cpu_seconds=1.5)
    run.attempts.append(attempt)
    run.iteration = iteration + 1


def _peer(folder, job_id, values):
    record = {"format": "lttfs-intermediate/1", "job_id": job_id, "metric": "mean_eval_reward",
              "iterations": [{"iteration": i + 1, "metrics": {"mean_eval_reward": v}}
                             for i, v in enumerate(values)]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"job_{job_id}.json").write_text(json.dumps(record))


def test_a_job_below_its_peers_stops_with_its_estimate(tmp_path):
    working_dir = tmp_path / "sweep" / "working_directories" / "7"
    working_dir.mkdir(parents=True)
    record_path = intermediate_record_path(working_dir, 7)
    assert record_path == tmp_path / "sweep" / "intermediate_results" / "job_7.json"
    for job_id, value in enumerate([0.1, 0.2, 0.3, -0.5]):
        _peer(record_path.parent, job_id, [value])
    (record_path.parent / "job_99.json").write_text("{cut off")  # being written: skipped
    state = JobState.new("digest", training_iterations=3, max_attempts=3, seeds=[1, 2])
    options = read_pruning({"pruning": {"keep_fraction": 0.5, "min_jobs": 4}}, 3)
    lines = []
    pruner = IterationRecorder({"id": 7}, options, working_dir, state, lines.append)
    _finish_iteration(working_dir, state.runs[0], 0, -0.1)
    assert not pruner.after_settle(state)  # run 1 has not completed iteration 1 yet
    assert read_record(record_path) is None
    _finish_iteration(working_dir, state.runs[1], 0, 0.1)
    assert pruner.after_settle(state)  # estimate 0.0: 3 of 4 peers did better
    record = read_record(record_path)
    assert record.status == "stopped_early" and record.stopped_at == 1
    (entry,) = record.iterations
    assert entry.metrics["mean_eval_reward"] == pytest.approx(0.0)
    assert entry.learner_cpu_seconds == 3.0 and entry.timesteps_trained == 200
    metrics = pruner.stop_metrics()
    assert metrics["stopped_early"] == 1.0 and metrics["trained_iterations"] == 1.0
    assert metrics["mean_return_rate"] == pytest.approx(0.1)
    assert [run.score.eval_reward for run in state.runs] == [-0.1, 0.1]
    assert any("3 of 4 other jobs did better" in line for line in lines)
    # a new IterationRecorder (the job resumed) knows it was stopped
    assert IterationRecorder({"id": 7}, options, working_dir, state, lines.append).stopped


def test_a_standalone_job_records_in_its_working_dir_and_never_stops(tmp_path):
    state = JobState.new("digest", training_iterations=2, max_attempts=3, seeds=[1])
    options = read_pruning({"pruning": {"keep_fraction": 0.5, "min_jobs": 1},
                            "intermediate_evaluation_episodes": 3}, 2)
    pruner = IterationRecorder({}, options, tmp_path, state, lambda line: None)
    roles = {"rl_common_config": {"evaluation_episodes": 50}, "rl_config": {}}
    assert pruner.attempt_roles(roles, state.runs[0], 2)["rl_common_config"][
        "evaluation_episodes"] == 3
    _finish_iteration(tmp_path, state.runs[0], 0, -0.3)
    assert not pruner.after_settle(state)
    assert pruner.attempt_roles(roles, state.runs[0], 2) is roles  # the last iteration
    assert read_record(tmp_path / "intermediate_results.json").iterations[0].metrics[
        "mean_eval_reward"] == -0.3


def test_the_learner_module_hook(monkeypatch):
    assert learner_command("c.json")[1:] == ["-m", "learning", "c.json"]
    monkeypatch.setenv("LTTFS_LEARNER_MODULE", "benchmarks.learning_standin")
    assert learner_command("c.json")[1:] == ["-m", "benchmarks.learning_standin", "c.json"]
    monkeypatch.setenv("LTTFS_LEARNER_MODULE", "x; rm -rf /")
    with pytest.raises(ValueError, match="is not a module name"):
        learner_command("c.json")
