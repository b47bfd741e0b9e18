"""Pruning rules behind one interface (learning.plugins.pruning): the shipped median rule
by name, a user's rule added from a module the settings name (tests/pruning_rule_plugin.py),
and every option checked through its rule, by the job and by the sweep's pre-flight."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from learning.job.pruning import read_pruning
from learning.job.settings import JobConfigError
from learning.launch.sweep_file import read_sweep_file
from learning.plugins.pruning import (
    Decision,
    Evidence,
    PruningRule,
    RuleOption,
    register_rule,
    registered_rules,
)
from learning.preflight.checks import run_preflight

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "tests.pruning_rule_plugin"


def evidence(value, peers, iteration=1, minimize=False):
    return Evidence(iteration, 3, value, tuple(peers), minimize, (value,))


def test_the_median_rule_is_the_default_and_named_it_prunes_with_its_defaults():
    options = read_pruning({}, 1)
    assert not options.enabled and options.rule.name == "median"
    named = read_pruning({"pruning": {"rule": "median"}}, 2)
    assert named.enabled and (named.rule.keep_fraction, named.rule.min_jobs) == (0.5, 5)
    assert read_pruning({"pruning": {"min_jobs": 3}}, 1).enabled is False  # options alone
    with pytest.raises(JobConfigError, match=r"setting pruning.rule: a job can only be stopped"
                                             r" between training iterations"):
        read_pruning({"pruning": {"rule": "median"}}, 1)


def test_an_unknown_option_of_the_chosen_rule_names_it_and_lists_the_rules_options():
    with pytest.raises(JobConfigError) as info:
        read_pruning({"pruning": {"rule": "median", "patience": 3}}, 3)
    assert str(info.value) == (
        "unknown setting pruning.patience; valid: pruning.keep_fraction, pruning.min_jobs"
        " (the options of pruning rule 'median'), pruning.rule, pruning.module,"
        " pruning.metric, pruning.minimize")


def test_an_unknown_rule_lists_the_registered_ones():
    with pytest.raises(JobConfigError, match=r"setting pruning.rule: no pruning rule is"
                                             r" registered under 'asha'; registered: .*median"):
        read_pruning({"pruning": {"rule": "asha"}}, 3)


@pytest.mark.parametrize("module, pattern", [
    ("no_such_module_here", r"pruning.module: cannot import 'no_such_module_here'"
                            r" \(ModuleNotFoundError"),
    ("os; rm -rf /", r"pruning.module: 'os; rm -rf /' is not a module name"),
])
def test_a_module_that_cannot_be_imported_is_a_config_error(module, pattern):
    with pytest.raises(JobConfigError, match=pattern):
        read_pruning({"pruning": {"module": module, "rule": "median"}}, 3)


def test_a_users_rule_comes_from_the_module_the_settings_name(tmp_path):
    settings = {"pruning": {"module": PLUGIN, "rule": "stop_at", "after_iteration": 2}}
    options = read_pruning(settings, 3, project_dir=REPO)
    assert options.enabled and options.rule.name == "stop_at"
    assert (options.rule.after_iteration, options.rule.min_peers) == (2, 0)
    assert options.rule.should_stop(evidence(0.1, [], iteration=1)).stop is False
    assert options.rule.should_stop(evidence(0.1, [], iteration=2)).stop is True
    with pytest.raises(JobConfigError, match=r"setting pruning.after_iteration: expected an"
                                             r" integer >= 1, got 0 \(pruning rule 'stop_at'\)"):
        read_pruning({"pruning": dict(settings["pruning"], after_iteration=0)}, 3)
    with pytest.raises(JobConfigError, match=r"unknown setting pruning.keep_fraction; valid:"
                                             r" pruning.after_iteration, pruning.min_peers"
                                             r" \(the options of pruning rule 'stop_at'\)"):
        read_pruning({"pruning": dict(settings["pruning"], keep_fraction=0.5)}, 3)


def test_the_median_rule_decides_as_before():
    median = read_pruning({"pruning": {"keep_fraction": 0.5, "min_jobs": 2}}, 3).rule
    assert median.should_stop(evidence(0.0, [1.0])) == Decision(
        False, "1 other job(s) reached it (pruning.min_jobs 2)")
    assert median.should_stop(evidence(0.0, [1.0, -1.0, 2.0])) == Decision(
        True, "2 of 3 other jobs did better (keep_fraction 0.5)")
    assert median.should_stop(evidence(math.nan, [1.0, 2.0])).stop is True
    assert median.should_stop(evidence(0.0, [1.0, 2.0], minimize=True)).stop is False


@pytest.mark.parametrize("attributes, pattern", [
    ({"name": "Bad Name"}, r"\.name: 'Bad Name'"),
    ({"name": "opt_clash", "options": (RuleOption("metric", float, 0.5),)},
     r"'metric': .* not one of rule, module, metric, minimize"),
    ({"name": "bad_default", "options": (RuleOption("share", float, 2.0, low=0, high=1),)},
     r"the default 2.0 is not a number in \[0, 1\]"),
    ({"name": "median"}, r"pruning rule 'median' is taken by learning.plugins.pruning"),
])
def test_a_rule_that_declares_itself_wrongly_is_refused(attributes, pattern):
    rule = type("Broken", (PruningRule,), dict(attributes))
    with pytest.raises(ValueError, match=pattern):
        register_rule(rule)
    assert rule not in registered_rules()


def test_the_preflight_checks_a_users_rule_through_the_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # jobs start in the project directory; so does the pre-flight
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["results_dir"] = str(tmp_path / "results")
    config["environment_setup"] = {}
    for key in ("pruning.keep_fraction", "pruning.min_jobs"):
        config["fixed_params"].pop(key)
    config["fixed_params"].update({"pruning.module": PLUGIN, "pruning.rule": "stop_at",
                                   "pruning.patience": 2})
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    problems = run_preflight(read_sweep_file(path, [])).problems
    assert any("unknown setting pruning.patience; valid: pruning.after_iteration,"
               " pruning.min_peers (the options of pruning rule 'stop_at')" in p
               for p in problems), problems
