"""The stand-in learner's memory (benchmarks/learning_standin.py): its learned level is
carried in its model zip, so constant settings give the closed-form curve, and a run that
continues another's model (a PBT exploit) or changes its settings keeps what it learned.
Pure functions and real zip files; no job runs."""

from __future__ import annotations

import math

import pytest

from benchmarks import learning_standin as standin

GOOD = (3e-4, 0.2, 0.99)  # quality 1
POOR = (1e-5, 0.2, 0.99)  # a slow, poor learning rate


def trained(level: float, settings: tuple, steps: int) -> float:
    for _ in range(steps // standin.CHUNK):
        level = standin.level_after(level, *settings, standin.CHUNK)
    return level


def test_constant_settings_follow_the_closed_form():
    for settings in (GOOD, POOR):
        level = trained(0.0, settings, 50_000)
        assert standin.reward_of_level(level) == pytest.approx(
            standin.true_reward(*settings, 50_000), abs=1e-12)


def test_a_run_keeps_what_it_learned_when_its_settings_change():
    switched = trained(trained(0.0, GOOD, 40_000), POOR, 10_000)
    poor_all_along = trained(0.0, POOR, 50_000)
    good_all_along = trained(0.0, GOOD, 50_000)
    assert poor_all_along < switched < good_all_along
    # the poor settings pull the level down towards their quality, slowly
    assert switched < trained(0.0, GOOD, 40_000)


def test_a_copied_model_carries_its_level(tmp_path):
    donor_level = trained(0.0, GOOD, 30_000)
    path = tmp_path / "model.zip"
    standin.save_model(path, 30_000, seed=7, level=donor_level)
    copy = tmp_path / "copy.zip"
    copy.write_bytes(path.read_bytes())
    timesteps, level = standin.load_model(str(copy), *POOR)
    assert (timesteps, level) == (30_000, donor_level)
    assert standin.load_model("", *POOR) == (0, 0.0)


def test_a_model_without_a_level_counts_as_trained_with_the_settings_all_along(tmp_path):
    import json
    import zipfile
    path = tmp_path / "old.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("standin.json", json.dumps({"num_timesteps": 20_000, "seed": 1}))
    timesteps, level = standin.load_model(str(path), *GOOD)
    assert timesteps == 20_000
    assert level == pytest.approx(1 - math.exp(-20_000 / standin.time_constant(GOOD[0])))
