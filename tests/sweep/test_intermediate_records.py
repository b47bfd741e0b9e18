"""Reading the jobs' intermediate records (learning.sweep.intermediate, with the reader
the job's pruning rule uses too: learning.contract.read_intermediate_record)."""

from __future__ import annotations

import json

from learning.contract import INTERMEDIATE_DIR, INTERMEDIATE_FORMAT, read_intermediate_record
from learning.job.pruning import read_record
from learning.sweep.intermediate import read_intermediate


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
    assert read_intermediate_record(folder / "job_3.json") == good
    assert read_intermediate_record(folder / "job_4.json") is None
    # the pruning rule also needs the list of iterations
    (folder / "job_6.json").write_text(json.dumps(dict(good, iterations=None)))
    assert read_intermediate_record(folder / "job_6.json") is not None
    assert read_record(folder / "job_6.json") is None
