"""benchmarks/zoo_reference.py, tiny: rl-baselines3-zoo's tuned Pendulum-v1 PPO setting
(config/zoo/pendulum_ppo, converted by lttfs zoo) trained for one rollout (4 envs x 1024
steps) with the real learner; it trains and reports beside the zoo's published row. No
score is asserted (one rollout learns nothing); the full budget's figures are in
docs/benchmarks.md."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_reference_check_trains_and_reports(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/zoo_reference.py", "--task", "pendulum_ppo", "--seeds",
         "2", "--timesteps", "4096", "--eval-episodes", "2", "--output", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Pendulum-v1, 4096 timesteps, 2 seed(s)" in out
    assert "|ppo  |Pendulum-v1                |   -172.225|   104.159|100k" in out
    report = json.loads((tmp_path / "zoo_reference_pendulum_ppo.json").read_text())
    assert [run["seed"] for run in report["runs"]] == [0, 1]
    assert all(run["num_timesteps"] == 4096 and run["episodes"] == 2 for run in report["runs"])
    assert all(math.isfinite(run["mean_reward"]) for run in report["runs"])
    assert f"here:      mean {report['mean']:.1f}" in out


def test_a_task_without_a_converted_config_says_how_to_make_one(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO))
    import benchmarks.zoo_reference as zoo_reference

    monkeypatch.setattr(zoo_reference, "ZOO_CONFIGS", tmp_path)
    assert zoo_reference.main(["--task", "pendulum_sac", "--output", str(tmp_path)]) == 2
