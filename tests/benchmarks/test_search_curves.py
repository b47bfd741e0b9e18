"""benchmarks/search_curves.py: the anytime curves of the search-efficiency benchmark and
its readings at equal samples, equal final quality and equal budget (quick, no sweep)."""

from __future__ import annotations

import pytest

from benchmarks.search_curves import compare, first_jobs, mean_curve, value_at

# (cost spent so far, true reward of the best job so far, jobs finished)
UNPRUNED = [[(100, 0.0, 1), (200, 0.2, 2), (300, 0.2, 3), (400, 0.3, 4)],
            [(100, 0.1, 1), (200, 0.1, 2), (300, 0.1, 3), (400, 0.3, 4)]]


def test_value_at_holds_the_last_step_and_has_none_before_the_first():
    curve = UNPRUNED[0]
    assert value_at(curve, 50) is None
    assert value_at(curve, 100) == 0.0
    assert value_at(curve, 250) == 0.2
    assert value_at(curve, 10_000) == 0.3


def test_mean_curve_steps_where_any_seed_steps_and_ends_with_the_shortest():
    curves = [[(100, 0.0, 1), (300, 0.4, 2)], [(200, 0.2, 1), (250, 0.3, 2)]]
    assert mean_curve(curves) == [(200, pytest.approx(0.1)), (250, pytest.approx(0.15))]


def test_first_jobs_are_read_in_sampling_order_and_judged_by_reported_metric():
    # (job id, cost, reported metric, true final reward); job 3 was stopped and finished first
    by_id = [(3, 25, -0.4, 0.2), (0, 100, 0.1, 0.05), (1, 100, 0.12, 0.0), (2, 100, 0.0, 0.3)]
    assert first_jobs(by_id, 2) == (200, 0.0)    # job 1 reported best, its true reward 0.0
    assert first_jobs(by_id, 3) == (300, 0.0)
    assert first_jobs(by_id, 99) == (325, 0.0)   # fewer jobs: all of them


def test_pruning_that_reaches_the_unpruned_quality_with_half_the_cpu_meets_the_goal():
    pruned = [[(50, 0.0, 1), (100, 0.3, 2), (400, 0.3, 6)],
              [(60, 0.1, 1), (200, 0.3, 3), (450, 0.3, 7)]]
    result = compare(UNPRUNED, pruned, tolerance=0.05)
    assert result.budget == 400 and result.final_quality == pytest.approx(0.3)
    assert result.pruned_reach == 200          # both seeds at 0.3 from cost 200
    assert result.saved == pytest.approx(0.5)
    assert result.unpruned_reach == 400        # the unpruned mean is 0.15..0.2 before
    assert result.saved_strict == pytest.approx(0.5)
    assert result.change_at_budget == pytest.approx(0.0)
    assert result.meets(0.4)
    assert not result.meets(0.6)


def test_a_pruned_search_that_lost_the_winner_does_not_meet_the_goal():
    pruned = [[(50, 0.0, 1), (100, 0.1, 2), (500, 0.1, 9)],
              [(60, 0.1, 1), (200, 0.2, 3), (500, 0.2, 9)]]
    result = compare(UNPRUNED, pruned, tolerance=0.05)
    assert result.pruned_reach is None and result.saved is None
    assert result.change_at_budget == pytest.approx(-0.15)
    assert not result.meets(0.4)


def test_pruned_sweeps_that_spent_less_than_the_budget_are_read_at_their_end():
    pruned = [[(50, 0.3, 1), (150, 0.3, 4)], [(60, 0.28, 1), (180, 0.3, 4)]]
    result = compare(UNPRUNED, pruned, tolerance=0.05)
    assert result.pruned_end == 150
    assert result.pruned_at_budget == pytest.approx(0.29)
    assert result.pruned_reach == 60 and result.saved == pytest.approx(0.85)
