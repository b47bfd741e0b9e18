"""Learning curves of chained runs: one curve across run_<r>.0-0, run_<r>.1-0, ..."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from learning.hpo.runs import learning_curve, run_dirs

REPO_SCRIPT = "run_learning.py"


@pytest.mark.slow
def test_learning_curve_stitches_chained_training_iterations(tmp_path):
    from learning.hpo.ranking import PROJECT_DIR

    job = tmp_path / "job"
    settings = {
        "config": {
            "config_templates": "hp_optim/config_templates_ppo.json",
            "rl_config": {"num_timesteps": 64, "n_steps": 32, "batch_size": 32, "n_epochs": 1},
            "hysr_config": {"nb_steps_per_episode": 10},
            "rl_common_config": {"evaluation_episodes": 1},
        },
        "learning_runs_per_job": 1,
        "training_iterations": 2,
        "max_attempts": 1,
        "working_dir": str(job),
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    result = subprocess.run([sys.executable, REPO_SCRIPT, str(tmp_path / "settings.json")],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    dirs = run_dirs(job)[0]
    assert [d.path.name for d in dirs] == ["run_0.0-0", "run_0.1-0"]
    curve = learning_curve(dirs)
    assert curve["timesteps"].tolist() == [32, 64, 96, 128]
    second = pd.read_csv(dirs[1].path / "logs" / "progress.csv")
    assert curve["reward"].tolist()[2:] == second["rollout/ep_rew_mean"].tolist()
