"""learning.parameter_dict: cluster_utils' --parameter-dict read as data, numpy 2's scalar
reprs included, nothing evaluated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from learning.parameter_dict import ParameterDictError, parse_parameter_dict, plain_repr


def test_numpy_2_scalar_reprs_become_plain_values():
    text = ("{'config': {'rl_config': {'n_envs': np.int64(8), 'learning_rate':"
            " np.float64(0.0003), 'normalize': {'norm_obs': np.False_}, 'ent_coef':"
            " np.str_('auto'), 'gamma': numpy.float32(-0.5)}}, 'flag': np.True_,"
            " 'net': (64, 64), 'id': 3, 'working_dir': '/tmp/x'}")
    settings = parse_parameter_dict(text)
    rl = settings["config"]["rl_config"]
    assert rl == {"n_envs": 8, "learning_rate": 0.0003, "normalize": {"norm_obs": False},
                  "ent_coef": "auto", "gamma": -0.5}
    assert type(rl["n_envs"]) is int and type(rl["normalize"]["norm_obs"]) is bool
    assert type(rl["learning_rate"]) is float and type(rl["ent_coef"]) is str
    assert settings["flag"] is True and settings["net"] == (64, 64)


def test_the_repr_numpy_itself_writes_round_trips():
    """str(dict) as cluster_utils writes it, under whichever numpy is installed."""
    sampled = {"a": np.int64(8), "b": np.float64(1e-4), "c": np.bool_(False),
               "d": np.str_("x"), "e": [np.int32(1), np.float32(0.5)], "f": -np.int64(3)}
    settings = parse_parameter_dict(str(sampled))
    assert settings == {"a": 8, "b": 1e-4, "c": False, "d": "x", "e": [1, 0.5], "f": -3}
    assert type(settings["a"]) is int and type(settings["c"]) is bool


def test_plain_repr_is_read_back_by_literal_eval():
    import ast

    settings = parse_parameter_dict("{'a': np.int64(8), 'b': {'c': [np.True_, 'x']}}")
    assert ast.literal_eval(plain_repr(settings)) == {"a": 8, "b": {"c": [True, "x"]}}


@pytest.mark.parametrize("text", [
    "{'a': __import__('os').system('touch /tmp/pwned')}",
    "{'a': np.load('x')}",
    "{'a': os.system('x')}",
    "{'a': np.int64(8, 9)}",
    "{'a': np.int64(x=8)}",
    "{'a': np.int64('8')}",
    "{'a': np.bool_(1)}",
    "{'a': [x for x in ()]}",
    "{'a': 1 + 2}",
    "{**{'a': 1}}",
    "{'a': nan}",
    "{'a': lambda: 0}",
    "['not', 'a', 'dict']",
    "{'a': ",
])
def test_anything_but_data_is_refused(text):
    with pytest.raises(ParameterDictError):
        parse_parameter_dict(text)


def test_non_finite_floats_inside_numpy_floats_are_read_but_not_written_back():
    settings = parse_parameter_dict("{'x': {'y': np.float64(nan)}, 'z': np.float64(-inf)}")
    assert math.isnan(settings["x"]["y"]) and settings["z"] == -math.inf
    with pytest.raises(ParameterDictError, match="x.y"):
        plain_repr(settings)
