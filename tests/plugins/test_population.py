"""The population-based-training rule and its settings (learning.plugins.population): pure
functions, no training."""

from __future__ import annotations

import math
import random

import pytest

from learning.plugins.population import (
    ParamSpace,
    PopulationError,
    decide,
    explore,
    perturb,
    read_pbt,
    resample,
    share_size,
    space_of_definition,
)

LR = "config.rl_config.learning_rate"
STEPS = "config.rl_config.n_steps"
GAMMA = "config.rl_config.gamma"


def options(**given):
    return read_pbt({"pbt": {"mutations": [LR], **given}})


def test_defaults_and_off():
    assert read_pbt({}) is None
    pbt = options()
    assert (pbt.quantile_fraction, pbt.min_jobs, pbt.resample_probability, pbt.factors) == (
        0.25, 2, 0.25, (0.8, 1.2))
    assert pbt.exploits and pbt.metric == "mean_eval_reward" and not pbt.minimize


@pytest.mark.parametrize(("given", "named"), [
    ({"quantile": 0.2}, "unknown setting pbt.quantile; valid: pbt.mutations"),
    ({"quantile_fraction": 0.7}, "pbt.quantile_fraction: expected a number in (0, 0.5]"),
    ({"min_jobs": 0}, "pbt.min_jobs: expected an integer >= 1"),
    ({"resample_probability": 1.5}, "pbt.resample_probability: expected a number in [0, 1]"),
    ({"factors": [1.0]}, "pbt.factors: expected a non-empty list of positive numbers other"),
    ({"mutations": ["config.rl_config.num_layers"]}, "num_layers cannot change during a"),
    ({"mutations": ["config.hysr_config.robot_position:0"]}, "only rl_config's"),
    ({"mutations": []}, "give pbt.mutations"),
    ({"schedule": [{"from_iteration": 1, "values": {}}]}, "pbt.schedule[0]"),
])
def test_bad_settings_are_named(given, named):
    with pytest.raises(PopulationError) as error:
        options(**given)
    assert named in str(error.value)


def test_schedule_replays_without_exploiting():
    pbt = read_pbt({"pbt": {"schedule": [{"from_iteration": 0, "values": {LR: 1e-3}},
                                         {"from_iteration": 2, "values": {LR: 3e-4}}]}})
    assert pbt.enabled and not pbt.exploits and pbt.schedule[1]["values"] == {LR: 3e-4}


def test_space_from_a_sweep_definition():
    search = {"optimized_params": [
        {"param": LR, "distribution": "TruncatedLogNormal", "bounds": [1e-5, 1e-2]},
        {"param": STEPS, "distribution": "IntNormal", "bounds": [32, 256]},
        {"param": GAMMA, "distribution": "Discrete", "options": [0.9, 0.99, 0.999]}]}
    space = space_of_definition(search, [LR, STEPS, GAMMA])
    assert space[LR].log and not space[LR].integer and space[STEPS].integer
    assert space[GAMMA].options == (0.9, 0.99, 0.999)
    grid = space_of_definition({"hyperparam_list": [{"param": LR, "values": [1e-4, 1e-3]}]}, [LR])
    assert grid[LR].distribution == "Discrete"
    with pytest.raises(PopulationError, match="not a parameter the sweep searches"):
        space_of_definition(search, ["config.rl_config.ent_coef"])


def test_share_sizes_never_overlap():
    assert [share_size(n, 0.25) for n in (1, 2, 3, 4, 8, 9)] == [0, 1, 1, 1, 2, 3]
    assert [share_size(n, 0.5) for n in (2, 3, 4, 5)] == [1, 1, 2, 2]


def test_decide_bottom_exploits_top():
    pbt = options(min_jobs=3)
    assert not decide(0.0, {1: 1.0, 2: 2.0}, pbt).exploit  # too few others
    verdict = decide(0.0, {1: 1.0, 2: 2.0, 3: 3.0}, pbt)
    assert verdict.exploit and verdict.donors == (3,)
    assert not decide(2.5, {1: 1.0, 2: 2.0, 3: 3.0}, pbt).exploit  # the middle goes on
    assert not decide(5.0, {1: 1.0, 2: 2.0, 3: 3.0}, pbt).exploit
    # a job that never scored counts as the worst; ties are not "better"
    assert decide(math.nan, {1: 1.0, 2: 2.0, 3: 3.0}, pbt).exploit
    assert not decide(1.0, {1: 1.0, 2: 1.0, 3: 1.0}, pbt).exploit
    minimizing = options(min_jobs=3, minimize=True)
    assert decide(3.0, {1: 1.0, 2: 2.0, 3: 0.5}, minimizing).donors == (3,)
    half = options(min_jobs=1, quantile_fraction=0.5)
    assert decide(0.0, {1: 1.0, 2: 2.0, 3: 3.0}, half).donors == (3, 2)


FLOAT = ParamSpace(LR, "TruncatedLogNormal", 1e-5, 1e-2)
INT = ParamSpace(STEPS, "IntNormal", 32, 256)
OPTIONS = ParamSpace(GAMMA, "Discrete", options=(0.9, 0.99, 0.999))


def test_perturb_stays_in_bounds_and_kind():
    assert perturb(FLOAT, 1e-3, 1.2) == pytest.approx(1.2e-3)
    assert perturb(FLOAT, 1e-2, 1.2) == 1e-2 and perturb(FLOAT, 1e-5, 0.8) == 1e-5
    assert perturb(INT, 100, 1.2) == 120 and perturb(INT, 250, 1.2) == 256
    assert perturb(ParamSpace(STEPS, "IntNormal", 1, 10), 2, 1.2) == 3  # moves by one at least
    assert perturb(OPTIONS, 0.99, 1.2) == 0.999 and perturb(OPTIONS, 0.99, 0.8) == 0.9
    assert perturb(OPTIONS, 0.999, 1.2) == 0.999  # the last option stays


def test_explore_many_draws_stay_inside():
    rng = random.Random(3)
    pbt = read_pbt({"pbt": {"mutations": [LR, STEPS, GAMMA], "resample_probability": 0.5}})
    space = {LR: FLOAT, STEPS: INT, GAMMA: OPTIONS}
    values = {LR: 3e-4, STEPS: 64, GAMMA: 0.99}
    moves = set()
    for _ in range(500):
        values, how = explore(values, space, pbt, rng)
        moves |= set(how.values())
        assert all(space[name].contains(value) for name, value in values.items()), values
        assert isinstance(values[STEPS], int)
    assert {"resampled", "x0.8", "x1.2", "option +1", "option -1"} <= moves
    draws = [resample(FLOAT, rng) for _ in range(2000)]
    assert min(draws) >= 1e-5 and max(draws) <= 1e-2
    # log-normal around the middle of the log bounds (3.2e-4): about half below it
    assert 0.4 < sum(d < math.sqrt(1e-5 * 1e-2) for d in draws) / len(draws) < 0.6
