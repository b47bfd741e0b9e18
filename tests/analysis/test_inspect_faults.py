"""Inspecting results that are hostile or damaged: a crafted status.pickle runs no code,
damaged all_data.csv files become notes (not IntCastingNaNError, nor a silent "in
progress"), and a read-only results folder still prints the table and says how to write
the report elsewhere."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tiny_sweep import METRIC, NUM_JOBS, PARAMS, REPO

from learning.analysis.results import ResultsError, load_sweep
from learning.records.safe_pickle import Stub, load_inert


class RunsCode:
    """Unpickled by pickle.load, this runs ``command`` (what a crafted file can do)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Optimizer:  # stands in for a pickled cluster_utils optimizer
    def __init__(self):
        self.metric_to_optimize, self.minimize = "score", True
        self.params, self.number_of_samples = ["a", ("b", "c")], 7
        self.full_df = pd.DataFrame({"x": [1.0]})


def crafted_pickle(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(RunsCode(f"touch {marker}")))
    return path


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_crafted_pickle_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "ran"
    path = tmp_path / "status.pickle"
    path.write_bytes(pickle.dumps(RunsCode(f"touch {marker}"), protocol=protocol))
    value = load_inert(path)
    assert isinstance(value, Stub) and value.qualified_name in ("posix.system", "os.system")
    assert value.args == (f"touch {marker}",)
    assert not marker.exists()


def test_an_optimizer_is_read_as_plain_attributes(tmp_path):
    path = tmp_path / "status.pickle"
    path.write_bytes(pickle.dumps(Optimizer()))
    attributes = load_inert(path).attributes()
    assert attributes["metric_to_optimize"] == "score" and attributes["minimize"] is True
    assert attributes["params"] == ["a", ("b", "c")] and attributes["number_of_samples"] == 7
    assert isinstance(attributes["full_df"], Stub)  # a DataFrame: not rebuilt, not needed


def synthetic_results(root: Path, all_data: str) -> Path:
    root.mkdir(parents=True)
    (root / "metadata.json").write_text(json.dumps({"run_type": "HP_OPTIMIZATION"}))
    (root / "all_data.csv").write_text(all_data)
    return root


ALL_DATA = ",id,config.lr,mean_eval_reward\n0,0,0.1,1.5\n1,1,0.2,2.5\n2,2,0.3,0.5\n"


@pytest.mark.parametrize("all_data, note, jobs", [
    (ALL_DATA[:-6], "all_data.csv: ends in the middle of a row", [1, 0]),
    (ALL_DATA.replace(",id,", ",job,"), "all_data.csv: no 'id' column", None),
    (ALL_DATA.replace("\n1,1,", "\n1,x,"), "all_data.csv: row(s) 1 have no integer job id",
     [0, 2]),
    (ALL_DATA.replace("\n2,2,", "\n2,,"), "all_data.csv: row(s) 2 have no integer job id",
     [1, 0]),
])
def test_damaged_all_data_is_a_note(tmp_path, all_data, note, jobs):
    root = synthetic_results(tmp_path / "results" / "x", all_data)
    if jobs is None:  # all_data.csv was the only source
        with pytest.raises(ResultsError, match=f"no job has reported metrics(.|\n)*{note}"):
            load_sweep(root)
        return
    sweep = load_sweep(root)
    assert any(note in n for n in sweep.notes), sweep.notes
    assert sweep.jobs["job_id"].tolist() == jobs and sweep.finished is None  # not "in progress"


def test_crafted_status_pickle_in_a_results_folder(tmp_path):
    root = synthetic_results(tmp_path / "results" / "x", ALL_DATA)
    crafted_pickle(root / "status.pickle", tmp_path / "ran")
    crafted_pickle(root / "report_data.pickle", tmp_path / "ran")
    sweep = load_sweep(root)
    assert not (tmp_path / "ran").exists()
    assert sweep.metric == "mean_eval_reward" and sweep.jobs["job_id"].tolist() == [1, 0, 2]


@pytest.mark.slow
def test_real_status_pickle_is_read_without_importing_cluster_utils(sweep_root):
    code = (f"import sys; from learning.analysis.results import load_sweep; s = load_sweep("
            f"{str(sweep_root)!r}); print(s.metric, s.minimize, s.params, s.number_of_samples,"
            " s.finished, [m for m in sys.modules if m.startswith('cluster_utils')])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    assert result.stdout.strip() == f"{METRIC} False {list(PARAMS)} {NUM_JOBS} True []"


@pytest.mark.slow
def test_crafted_pickle_in_a_real_sweep(sweep_copy, inspect_cli, tmp_path):
    crafted_pickle(sweep_copy / "status.pickle", tmp_path / "ran")
    code, out, err = inspect_cli(sweep_copy, "--no-report")
    assert code == 0 and not (tmp_path / "ran").exists()
    header = out.splitlines()[0]
    assert "status unknown" in header  # the number of samples was in the pickle only
    assert "learning_rate" in out and "gamma" in out  # parameters from reduced_data.csv


@pytest.mark.slow
def test_all_data_cut_mid_row(sweep_copy, inspect_cli):
    path = sweep_copy / "all_data.csv"
    path.write_text(path.read_text()[:-20])
    code, out, err = inspect_cli(sweep_copy, "--no-report")
    assert code == 0 and "Traceback" not in err
    assert "status unknown" in out.splitlines()[0] and "ends in the middle of a row" in out


@pytest.mark.slow
def test_read_only_results_folder(sweep_copy, inspect_cli, read_only_view, tmp_path):
    view = read_only_view(sweep_copy)
    code, out, err = inspect_cli(view)
    assert code == 1 and " rank " in out  # the table is printed
    assert "error: cannot write the report" in err and "read-only file system" in err.lower()
    assert "--report PATH" in err and "--no-report" in err
    assert inspect_cli(view, "--no-report")[0] == 0
    code, out, err = inspect_cli(view, "--report", tmp_path / "report.html")
    assert code == 0 and (tmp_path / "report.html").is_file()
