"""A real population-based-training sweep (hp_optimization, local mode, through the
launcher) whose main process is SIGKILLed once its first job finished: ``--resume`` with
stdin from /dev/null finishes it with the right number of jobs, and every job that
finished decided after each of its iterations, inside the sweep's bounds. Its jobs exit
for resume after every round of learners (``resume_after_each_round``), so each
decision is also made across job restarts. About 1-2 minutes on 2 cores."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from test_sweep_resume import finished, launcher, recorded, wait_until_gone
from tiny_sweep import TINY_SWEEP

from learning.records.lineage import sweep_lineages

pytestmark = pytest.mark.slow

LR = "config.rl_config.learning_rate"
SAMPLES = TINY_SWEEP["optimization_setting"]["number_of_samples"]


def test_killed_pbt_sweep_resumes_and_finishes(tmp_path):
    config = dict(TINY_SWEEP, results_dir=str(tmp_path / "results"),
                  optimization_procedure_name="tiny_pbt_resume")
    config["fixed_params"] = dict(
        config["fixed_params"], learning_runs_per_job=1, training_iterations=3,
        resume_after_each_round=True, **{"pbt.mutations": [LR], "pbt.min_jobs": 1,
                                         "pbt.quantile_fraction": 0.5})
    config_file = tmp_path / "tiny_pbt.json"
    config_file.write_text(json.dumps(config))
    root = tmp_path / "results" / config["optimization_procedure_name"]
    command, options = launcher(config_file, tmp_path)

    with open(tmp_path / "first.log", "w") as log:
        main_process = subprocess.Popen(command, stdout=log, **options)
        try:
            deadline = time.monotonic() + 400
            while not finished(root):
                assert main_process.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no job finished"
                time.sleep(0.05)
            main_process.send_signal(signal.SIGKILL)
        finally:
            main_process.kill()
            main_process.wait()
    assert not wait_until_gone(tmp_path, timeout=90)
    at_rest = finished(root)

    result = subprocess.run(command + ["--resume"], stdout=subprocess.PIPE, text=True,
                            timeout=500, **options)
    assert result.returncode == 0, result.stdout[-3000:]
    final = recorded(root)
    assert final is not None and len(final) == SAMPLES, final
    for job_id, metric in at_rest.items():  # a job finished before the kill keeps its result
        assert final[job_id] == pytest.approx(metric)
    lineages = sweep_lineages(root)
    for job_id in final:
        lineage = lineages[job_id]
        assert lineage.decided == [1, 2], (job_id, lineage)
        assert all(1e-5 <= entry.values[LR] <= 1e-2 for entry in lineage.schedule)
    assert json.loads((root / "pbt_lineage.json").read_text())["jobs"].keys() >= {
        str(job) for job in final}
    assert not wait_until_gone(tmp_path, timeout=60), "left running after the sweep ended"
