"""A confirmation reruns the winners in full, even when the sweep pruned its jobs."""

from types import SimpleNamespace

from learning.analysis.confirm_plan import split_settings


def test_confirmation_turns_pruning_off():
    sweep = SimpleNamespace(params=["config.rl_config.learning_rate"])
    winners = [(None, {"config.rl_config.learning_rate": lr, "training_iterations": 3,
                       "pruning.keep_fraction": 0.5, "pruning.min_jobs": 5,
                       "pruning.rule": "median", "pruning.module": "my_rules"})
               for lr in (1e-4, 1e-3)]
    views = [SimpleNamespace(run_seeds=[1, 2])]
    varying, fixed = split_settings(sweep, winners, views, seeds=3)
    assert varying == ["config.rl_config.learning_rate"]
    # every pruning setting goes: without pruning.rule, a rule's own options would be
    # unknown settings of the default rule
    assert not [key for key in fixed if key.startswith("pruning.")]
    assert fixed["training_iterations"] == 3
    assert fixed["learning_runs_per_job"] == 3
