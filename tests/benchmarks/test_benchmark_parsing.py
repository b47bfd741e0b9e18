"""The benchmarks' own reading of what the suite prints or returns (quick, no learner):
demo_verdicts.py parses the verdict sentence of ``--confirm --baseline`` (which names the
gap to the defaults once), landing.py summarizes the env's end-of-episode info."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.demo_verdicts import LEAD
from benchmarks.landing import summary
from learning.analysis.confirm_verdict import verdict


def confirmed(winner: float, default: float, std: float) -> pd.DataFrame:
    return pd.DataFrame([
        {"job_id": 4, "original_rank": 1, "confirmed_mean": winner, "confirmed_std": std,
         "confirmed_runs": 3, "confirmed_rank": 1},
        {"job_id": "defaults", "original_rank": None, "confirmed_mean": default,
         "confirmed_std": std, "confirmed_runs": 3, "confirmed_rank": 2},
    ])


@pytest.mark.parametrize("winner, default, judged", [
    (0.3, -0.1, "it beats them by more than the noise"),
    (0.01, 0.0, "its lead is within the noise"),
])
def test_demo_benchmark_reads_the_baseline_verdict(winner, default, judged):
    text = verdict(confirmed(winner, default, std=0.05))
    found = LEAD.search(text)
    assert found, text
    assert float(found["lead"]) == pytest.approx(winner - default, rel=1e-3)
    assert found["judged"] == judged
    assert float(found["se"]) > 0


def test_landing_summary():
    hysr = {"robot_position": [0.25, -0.2, 1.2], "target_position": [0.0, 2.3, 0.78]}
    hit = {"hit": True, "end_reason": "bounced_after_hit", "hit_position": [0.0, 0.0, 1.0],
           "ball_position": [-0.5, 2.5, 0.78], "min_distance_ball_target": 0.3}
    far = dict(hit, ball_position=[-0.9, 2.1, 0.78], min_distance_ball_target=0.9)
    miss = {"hit": False, "end_reason": "passed_robot", "hit_position": None,
            "ball_position": [0.0, -0.3, 1.0], "min_distance_ball_target": None}
    result = summary([hit, far, miss, miss], hysr, radius=0.5)
    assert result["hit_rate"] == 0.5 and result["return_rate"] == 0.25
    assert result["hit_x_from_robot_mean_std"] == [-0.25, 0.0]
    assert result["returns_landed"] == 2
    assert result["landing_x_from_target_mean_std"] == [-0.7, 0.2]
    assert result["landing_y_from_target_mean_std"] == [0.0, 0.2]


def test_verdict_names_the_gap_to_the_defaults_once():
    text = verdict(confirmed(0.3, -0.1, std=0.05))
    assert text.startswith("The sweep's winner (job 4) also ranks first of 2 on fresh seeds.")
    assert text.count("standard errors") == 1, text
