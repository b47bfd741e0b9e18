"""Pure functions of the inspection: parameter importance, names, values (no sweep)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from learning.analysis.display import format_value, short_names
from learning.analysis.stats import parameter_importance


def test_importance_ranks_the_parameter_the_metric_follows():
    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-5, -2, 30)
    noise = rng.uniform(0, 1, 30)
    jobs = pd.DataFrame({
        "lr": lr,
        "noise": noise,
        "const": 0.99,
        "policy": rng.choice(["a", "b"], 30),
        "metric": -np.log10(lr),  # strictly decreasing in lr: |rho| = 1
    })
    table = parameter_importance(jobs, ["noise", "lr", "const", "policy"], "metric")
    assert table["parameter"].tolist()[0] == "lr"
    assert np.isclose(table.set_index("parameter").loc["lr", "importance"], 1.0)
    assert table.set_index("parameter").loc["noise", "importance"] < 0.5
    assert np.isnan(table.set_index("parameter").loc["const", "importance"])  # not varied
    assert table.set_index("parameter").loc["policy", "kind"] == "categorical"


def test_importance_of_a_categorical_parameter_that_decides_the_metric():
    jobs = pd.DataFrame({"algo": ["x", "y"] * 5, "metric": [1.0, 5.0] * 5})
    table = parameter_importance(jobs, ["algo"], "metric")
    assert np.isclose(table.loc[0, "importance"], 1.0)


def test_short_names_are_unique_suffixes():
    names = ["config.rl_config.gamma", "config.rl_config.learning_rate",
             "config.hysr_config.world_boundaries.min:2", "config.other.gamma"]
    short = short_names(names)
    assert short["config.rl_config.learning_rate"] == "learning_rate"
    assert short["config.hysr_config.world_boundaries.min:2"] == "min:2"
    assert short["config.rl_config.gamma"] == "rl_config.gamma"
    assert short["config.other.gamma"] == "other.gamma"


def test_format_value():
    assert format_value(0.000123) == "0.000123"
    assert format_value(float("nan")) == "-" and format_value(None) == "-"
    assert format_value(-0.94071234) == "-0.9407"
    assert format_value(3) == "3" and format_value("cpu") == "cpu"
