"""Reading the jobs' intermediate records (learning.analysis.intermediate, with the reader
the job's pruning rule uses too: learning.records.intermediate.read_intermediate_record)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from learning.analysis.intermediate import read_intermediate
from learning.contract import INTERMEDIATE_DIR
from learning.records.intermediate import FORMAT as INTERMEDIATE_FORMAT
from learning.records.intermediate import IntermediateRecord, read_intermediate_record
from learning.records.typed_json import from_json


def test_a_cut_off_or_foreign_record_is_skipped_with_a_note(tmp_path):
    folder = tmp_path / INTERMEDIATE_DIR
    folder.mkdir()
    good = {"format": INTERMEDIATE_FORMAT, "job_id": 3, "status": "running",
            "stopped_at": None, "training_iterations": 3, "final": None,
            "iterations": [{"iteration": 1, "metrics": {"mean_eval_reward": 0.25}}]}
    (folder / "job_3.json").write_text(json.dumps(good))
    (folder / "job_4.json").write_text(json.dumps(good)[:40])  # cut off mid-write
    (folder / "job_5.json").write_text(json.dumps(dict(good, format="other/9")))
    notes: list[str] = []
    points = read_intermediate(tmp_path, "mean_eval_reward", notes)
    assert points[["job_id", "iteration", "value"]].values.tolist() == [[3, 1, 0.25]]
    assert notes == [f"{folder}: unreadable intermediate records skipped: job_4.json,"
                     " job_5.json"]
    assert read_intermediate_record(folder / "job_3.json") == from_json(IntermediateRecord,
                                                                        good)
    assert read_intermediate_record(folder / "job_4.json") is None
    # one reader for the pruning rule and the inspection: a record without its list of
    # iterations is no record for either
    (folder / "job_6.json").write_text(json.dumps(dict(good, iterations=None)))
    assert read_intermediate_record(folder / "job_6.json") is None


@pytest.mark.parametrize("training_iterations, shown", [(1, False), (3, True)])
def test_report_shows_the_iterations_of_jobs_that_have_several(tmp_path, training_iterations,
                                                              shown):
    """Jobs of one iteration have nothing between iterations to show; jobs of several do,
    also while every job is still at its first (a running sweep)."""
    from learning.analysis.report import _intermediate

    folder = tmp_path / INTERMEDIATE_DIR
    folder.mkdir()
    record = {"format": INTERMEDIATE_FORMAT, "job_id": 0, "status": "running",
              "stopped_at": None, "training_iterations": training_iterations, "final": None,
              "iterations": [{"iteration": 1, "metrics": {"mean_eval_reward": 0.1}}]}
    (folder / "job_0.json").write_text(json.dumps(record))
    sweep = SimpleNamespace(root=tmp_path, metric="mean_eval_reward")
    parts = _intermediate(sweep, [])
    assert bool(parts) == shown
    if shown:
        assert parts[0] == "<h2>The metric over training iterations</h2>"
