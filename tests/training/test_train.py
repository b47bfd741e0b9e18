"""The learner end to end on tiny budgets: `python -m learning` (subprocess) and
learning.__main__.main (in-process) with the real env and stable-baselines3."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learning.__main__ import main
from learning.config import load_configs
from learning.contract import EXIT_DIVERGED, EXIT_INTERRUPTED, replay_buffer_path
from learning.training.callbacks import EpisodeLog
from learning.training.progress_log import AppendingCSVOutputFormat

REPO = Path(__file__).resolve().parents[2]
# Tiny budgets: PPO rollouts of 64 steps; SAC updates from step 32 on.
PPO_TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "num_timesteps": 128, "verbose": 0}
SAC_TINY = {
    "learning_starts": 32,
    "batch_size": 32,
    "buffer_size": 10_000,
    "num_timesteps": 96,
    "verbose": 0,
}


@pytest.fixture(autouse=True)
def one_cpu():
    """Pin the test process (and so the learners it starts) to one CPU: the machine is
    shared, and the learner records its CPUs (run_info.json "cpus")."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    yield
    os.sched_setaffinity(0, allowed)


def make_run(
    tmp_path: Path,
    algorithm: str = "ppo",
    rl: dict | None = None,
    common: dict | None = None,
    name: str = "config",
) -> Path:
    """A copy of config/ in tmp_path/config with tiny budgets; returns the main config path.

    Paths in rl_config are relative to tmp_path (tests run with cwd=tmp_path)."""
    folder = tmp_path / "config"
    if not folder.exists():
        shutil.copytree(REPO / "config", folder)
    main_name = "config.json" if algorithm == "ppo" else "config_sac.json"
    roles = json.loads((folder / main_name).read_text())
    rl_values = json.loads((folder / roles["rl_config"]).read_text())
    rl_values.update(PPO_TINY if algorithm == "ppo" else SAC_TINY)
    rl_values.update(log_path="logs", save_path="models/model.zip", load_path="")
    rl_values.update(rl or {})
    common_values = json.loads((folder / roles["rl_common_config"]).read_text())
    common_values.update(random_seed=7, evaluation_episodes=2, log_episodes=False)
    common_values.update(common or {})
    (folder / f"{name}_rl.json").write_text(json.dumps(rl_values))
    (folder / f"{name}_common.json").write_text(json.dumps(common_values))
    roles.update(rl_config=f"{name}_rl.json", rl_common_config=f"{name}_common.json")
    (folder / f"{name}.json").write_text(json.dumps(roles))
    return folder / f"{name}.json"


def run_cli(
    cwd: Path, config: Path, timeout: float = 300, extra: list[str] | tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "learning", str(config), *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_progress(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_appending_csv_output_format_keeps_rows_and_header(tmp_path):
    path = tmp_path / "progress.csv"
    first = AppendingCSVOutputFormat(path)
    first.write({"rollout/ep_rew_mean": 1.0, "time/total_timesteps": 64}, {})
    first.write({"rollout/ep_rew_mean": 2.0, "time/total_timesteps": 128, "train/loss": 0.5}, {})
    first.close()
    second = AppendingCSVOutputFormat(path)  # a continued run
    second.write(
        {
            "rollout/ep_rew_mean": 3.0,
            "time/total_timesteps": 192,
            "train/loss": 0.25,
            "train/n_updates": 4,
        },
        {},
    )
    second.close()
    rows = read_progress(path)
    assert [r["rollout/ep_rew_mean"] for r in rows] == ["1.0", "2.0", "3.0"]
    assert [r["train/loss"] for r in rows] == ["", "0.5", "0.25"]
    assert [r["train/n_updates"] for r in rows] == ["", "", "4"]
    assert path.read_text().splitlines()[0] == (
        "rollout/ep_rew_mean,time/total_timesteps,train/loss,train/n_updates"
    )


def test_episode_log_widens_for_terms_seen_later(tmp_path):
    path = tmp_path / "episodes.csv"
    log = EpisodeLog(path)
    log._on_training_start()
    miss = {"episode": {"r": -0.5, "l": 40}, "hit": False, "reward_terms": {"no_hit": -0.5}}
    hit = {"episode": {"r": 0.3, "l": 41}, "hit": True, "reward_terms": {"hit": 0.3}}
    for steps, info in ((40, miss), (81, hit)):  # what SB3's on_step does, without a model
        log.num_timesteps = steps
        log.update_locals({"dones": [True], "infos": [info]})
        log._on_step()
    log._on_training_end()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["reward_terms.no_hit"] for r in rows] == ["-0.5", ""]
    assert [r["reward_terms.hit"] for r in rows] == ["", "0.3"]
    assert [(r["num_timesteps"], r["episode_reward"]) for r in rows] == [
        ("40", "-0.5"),
        ("81", "0.3"),
    ]


@pytest.mark.slow
def test_ppo_cli_end_to_end(tmp_path):
    # 3 rollouts of 64 steps: an episode lasts at most nb_steps_per_episode (150) steps, so
    # one has ended by the last rollout (with a random seed the first may hold none)
    config = make_run(
        tmp_path, rl={"num_timesteps": 192}, common={"random_seed": None, "log_episodes": True}
    )
    result = run_cli(tmp_path, config)
    assert result.returncode == 0, result.stderr
    logs = tmp_path / "logs"
    rows = read_progress(logs / "progress.csv")
    assert len(rows) == 3 and rows[-1]["rollout/ep_rew_mean"]
    evaluation = read_json(logs / "evaluation.json")
    info = read_json(logs / "run_info.json")
    assert info["status"] == "finished" and info["num_timesteps"] == 192
    assert info["torch_threads"] == 1 and info["cpus"] == sorted(os.sched_getaffinity(0))
    assert isinstance(info["seed"], int) and info["seed_source"].startswith("random")
    assert info["versions"]["stable-baselines3"] and "learning" in info["command"]
    assert evaluation["episodes"] == 2 and evaluation["num_timesteps"] == 192
    assert 0 <= evaluation["return_rate"] <= evaluation["hit_rate"] <= 1
    assert {"mean_reward", "std_reward"} <= evaluation.keys()
    with open(logs / "episodes.csv", newline="") as f:
        episodes = list(csv.DictReader(f))
    assert episodes and {"num_timesteps", "episode_reward", "hit"} <= episodes[0].keys()
    # the resolved configs rerun as they are
    copied = load_configs(logs / "configs" / "config.json")
    assert copied.rl["num_timesteps"] == 192 and copied.rl_common["random_seed"] is None

    from stable_baselines3 import PPO

    model = PPO.load(tmp_path / "models" / "model.zip")
    assert model.num_timesteps == 192
    assert not list((tmp_path / "models").glob(".*tmp*"))  # atomic save left nothing behind


@pytest.mark.slow
def test_ppo_continuation_keeps_counting_and_appends(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path))]) == 0
    rows_first = read_progress(tmp_path / "logs" / "progress.csv")
    config = make_run(tmp_path, rl={"load_path": "models/model.zip"}, name="again")
    assert main([str(config)]) == 0
    rows = read_progress(tmp_path / "logs" / "progress.csv")
    assert rows[: len(rows_first)] == rows_first[: len(rows_first)]
    steps = [int(r["time/total_timesteps"]) for r in rows]
    assert steps == [64, 128, 192, 256]
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert (info["num_timesteps_start"], info["num_timesteps"]) == (128, 256)
    assert info["previous_runs"][0]["num_timesteps"] == 128
    assert read_json(tmp_path / "logs" / "evaluation.json")["num_timesteps"] == 256
    # a fresh run (load_path "") in the same log_path starts new logs
    assert main([str(make_run(tmp_path, name="fresh"))]) == 0
    rows = read_progress(tmp_path / "logs" / "progress.csv")
    assert [int(r["time/total_timesteps"]) for r in rows] == [64, 128]
    assert read_json(tmp_path / "logs" / "run_info.json")["previous_runs"] == []


@pytest.mark.slow
def test_sac_cli_and_continuation_reload_replay_buffer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(tmp_path, make_run(tmp_path, "sac"))
    assert result.returncode == 0, result.stderr
    model_path = tmp_path / "models" / "model.zip"
    assert replay_buffer_path(model_path).is_file()
    assert read_progress(tmp_path / "logs" / "progress.csv")[-1]["rollout/ep_rew_mean"]
    config = make_run(tmp_path, "sac", rl={"load_path": "models/model.zip"}, name="again")
    assert main([str(config)]) == 0
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert (info["num_timesteps_start"], info["num_timesteps"]) == (96, 192)
    assert info["replay_buffer_loaded"].endswith("model_replay_buffer.pkl")

    from stable_baselines3 import SAC

    model = SAC.load(model_path)
    model.load_replay_buffer(replay_buffer_path(model_path))
    assert model.num_timesteps == 192
    assert model.replay_buffer.size() == 192  # the first run's transitions were kept


@pytest.mark.slow
def test_fixed_seed_reproduces_the_run(tmp_path, monkeypatch):
    results = []
    for name in ("a", "b"):
        run = tmp_path / name
        run.mkdir()
        monkeypatch.chdir(run)
        assert main([str(make_run(run, common={"random_seed": 123}))]) == 0
        progress = read_progress(run / "logs" / "progress.csv")
        evaluation = read_json(run / "logs" / "evaluation.json")
        results.append(([r["rollout/ep_rew_mean"] for r in progress], evaluation))
    (rewards_a, eval_a), (rewards_b, eval_b) = results
    assert rewards_a == rewards_b
    for key in ("mean_reward", "std_reward", "hit_rate", "return_rate"):
        assert eval_a[key] == eval_b[key]


def start_training(tmp_path: Path, config: Path, **popen: object) -> subprocess.Popen:
    """`python -m learning config` in tmp_path, once it has written its first progress row."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "learning", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    progress = tmp_path / "logs" / "progress.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if progress.exists() and progress.stat().st_size > 0:
            break
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()
    return process


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGUSR1])
def test_stop_signal_saves_model_and_exits_75(tmp_path, stop_signal):
    config = make_run(tmp_path, rl={"num_timesteps": 10_000_000})
    process = start_training(tmp_path, config)
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert stop_signal.name in stderr and "Traceback" not in stderr
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["status"] == "interrupted" and info["num_timesteps"] >= 64
    # a stop in the middle of a rollout does not count that rollout: it was not trained on
    assert info["num_timesteps"] % 64 == 0

    from stable_baselines3 import PPO

    assert PPO.load(tmp_path / "models" / "model.zip").num_timesteps == info["num_timesteps"]
    assert not (tmp_path / "logs" / "evaluation.json").exists()


@pytest.mark.slow
def test_stop_signal_after_a_finished_run_does_not_kill_the_process(tmp_path):
    """Slurm's timeout warning can arrive after the run finished but before the process
    exits: the process entry keeps catching it, so the finished run still exits 0."""
    config = make_run(tmp_path)
    script = (
        "import os, signal, sys\n"
        f"sys.argv = ['learning', {str(config)!r}]\n"
        "from learning.__main__ import main\n"
        "code = main()\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert read_json(tmp_path / "logs" / "run_info.json")["status"] == "finished"


@pytest.mark.slow
def test_exploding_learning_rate_exits_65(tmp_path, monkeypatch):
    # a real divergence: updates of this size make the policy's outputs infinite or NaN
    monkeypatch.chdir(tmp_path)
    config = make_run(
        tmp_path, rl={"learning_rate": 1e30, "max_grad_norm": 1e30, "num_timesteps": 2048}
    )
    assert main([str(config)]) == EXIT_DIVERGED
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["status"] == "diverged" and info["message"].startswith("training diverged: ")
