"""benchmarks/pbt.py: ``--quick`` runs both arms (the same stand-in sweep with and without
population-based training, then the confirmation of each winner) and prints its table;
the best-so-far curve against learner CPU is read from the jobs' intermediate records.
Which arm wins is not asserted (one seed of four jobs says nothing about it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.pbt import cpu_curve
from learning.records.intermediate import FinalResult, IntermediateRecord, IterationResult

REPO = Path(__file__).resolve().parents[2]
ROWS = ("jobs per sweep", "exploits per sweep", "learner CPU s per sweep",
        "best metric after 25% of the sweep's learner CPU",
        "best metric after 75% of the sweep's learner CPU", "best metric of the sweep",
        "winner confirmed (fresh seeds)", "confirmation learner CPU s")


def table(out: str) -> dict[str, list[str]]:
    """The printed table's rows by reading: [no PBT, PBT, ratio, difference]."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and not cells[0].startswith("---"):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
def test_quick_runs_both_arms_with_the_same_jobs_and_confirms_both_winners(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/pbt.py", "--quick", "--work", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "load average before" in out and "load average after" in out
    rows = table(out)
    assert set(ROWS) <= set(rows), out
    assert rows["jobs per sweep"][:3] == ["4", "4", "1.00"]
    assert rows["exploits per sweep"][0] == "0"
    for arm in rows["winner confirmed (fresh seeds)"][:2]:  # both confirmations gave a number
        float(arm)
    assert "PBT confirmation replayed the winner's schedule: 1 of 1 seed(s)" in out
    results = tmp_path / "results"
    off, on = results / "random_seed0", results / "random_pbt_seed0"
    assert len(pd.read_csv(off / "all_data.csv")) == len(pd.read_csv(on / "all_data.csv")) == 4
    assert (on / "pbt_lineage.json").is_file() and not (off / "pbt_lineage.json").exists()
    assert (off / "confirm").is_dir() and (on / "confirm").is_dir()
    assert (tmp_path / "pbt_curves.json").is_file()


def record(job: int, iterations: list[tuple[float, float]], final: tuple[float, float, float]
           ) -> IntermediateRecord:
    """A job's record: (time, learner CPU) after each iteration, (time, CPU, metric) at
    its end."""
    return IntermediateRecord(
        job_id=job, iterations=[IterationResult(k, {"m": 0.0}, time=t, learner_cpu_seconds=c)
                                for k, (t, c) in enumerate(iterations, 1)],
        final=FinalResult({"m": final[2]}, time=final[0], learner_cpu_seconds=final[1]))


def test_the_curve_counts_every_jobs_cpu_so_far_at_each_jobs_end():
    records = [record(0, [(1.0, 2.0)], (3.0, 4.0, 0.1)),
               record(1, [(2.0, 1.0)], (5.0, 3.0, 0.05)),  # worse: the best stays
               record(2, [(4.0, 2.0)], (6.0, 5.0, 0.3)),
               IntermediateRecord(job_id=3)]  # started, nothing recorded yet
    # job 0 ends at t=3: its 4 s and job 1's 1 s so far; job 1 ends at t=5: 4 + 3 + job 2's 2
    assert cpu_curve(records, "m") == [(5.0, 0.1, 1), (9.0, 0.1, 2), (12.0, 0.3, 3)]
