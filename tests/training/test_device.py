"""rl_config ``device``: the learner trains on the CPU unless the config names a device,
continues on the same rule, and a CUDA device this machine does not show is a config
error before anything is written (tiny real trainings)."""

from __future__ import annotations

import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv
from test_train import main, make_run, one_cpu, read_json  # noqa: F401 (one_cpu: autouse)

from learning.config import ConfigError, load_configs
from learning.contract import EXIT_CONFIG
from learning.training.device import training_device
from learning.training.train import build_model, make_monitored_env

NO_GPU = not torch.cuda.is_available()


def test_default_config_names_the_cpu(tmp_path):
    config = load_configs(make_run(tmp_path))
    assert config.rl["device"] == "cpu" and training_device(config) == "cpu"
    env = DummyVecEnv([lambda: make_monitored_env(config)])
    try:
        model, _ = build_model(config, env, seed=1, device=training_device(config))
    finally:
        env.close()
    assert model.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in model.policy.parameters())


@pytest.mark.slow
def test_default_trains_and_continues_on_the_cpu(tmp_path, monkeypatch):
    """Not SB3's "auto" (which takes a visible GPU): the default is written to the run's
    resolved configs and run_info.json records the device the model was on."""
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path))]) == 0
    assert read_json(tmp_path / "logs" / "run_info.json")["device"] == "cpu"
    assert read_json(tmp_path / "logs" / "configs" / "rl_config.json")["device"] == "cpu"
    again = make_run(tmp_path, rl={"load_path": "models/model.zip", "num_timesteps": 64},
                     name="again")
    assert main([str(again)]) == 0
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["status"] == "finished" and info["device"] == "cpu"
    assert info["num_timesteps"] == 192


@pytest.mark.slow
def test_auto_keeps_sb3s_choice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path, rl={"device": "auto"}))]) == 0
    expected = "cpu" if NO_GPU else "cuda:0"
    assert read_json(tmp_path / "logs" / "run_info.json")["device"] == expected


@pytest.mark.skipif(not NO_GPU, reason="this machine shows a CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_visible_gpu_is_a_config_error(tmp_path, monkeypatch, capsys, device):
    monkeypatch.chdir(tmp_path)
    config = make_run(tmp_path, rl={"device": device})
    assert main([str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"config_rl.json: device: is {device!r}, but no CUDA device is visible on" in err
    assert '"cpu" (the default), "cuda", "cuda:N"' in err  # what is valid
    assert not (tmp_path / "logs").exists() and not (tmp_path / "models").exists()


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA device")
def test_cuda_trains_on_the_gpu_and_an_absent_index_is_a_config_error(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path, rl={"device": "cuda"}))]) == 0
    assert read_json(tmp_path / "logs" / "run_info.json")["device"] == "cuda:0"
    absent = f"cuda:{torch.cuda.device_count()}"
    config = make_run(tmp_path, rl={"device": absent, "log_path": "other"}, name="absent")
    assert main([str(config)]) == EXIT_CONFIG
    assert f"device: is {absent!r}, but only" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["gpu", "cuda:", "cuda:x", "CPU", "mps"])
def test_an_unknown_device_names_the_file_the_key_and_the_choices(tmp_path, device):
    main_file = make_run(tmp_path, rl={"device": device})
    with pytest.raises(ConfigError) as error:
        load_configs(main_file)
    message = str(error.value)
    assert "config_rl.json" in message and "device" in message and repr(device) in message
    assert '"cpu" (the default), "cuda", "cuda:N"' in message and '"auto"' in message


def test_a_device_that_is_no_string_is_a_config_error(tmp_path):
    main_file = make_run(tmp_path, rl={"device": 0})
    with pytest.raises(ConfigError, match=r"device: is a integer \(0\); valid: a string"):
        load_configs(main_file)
