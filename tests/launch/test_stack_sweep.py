"""The installed stack end to end (marked ``stack``: ``make test-numpy1`` runs it on numpy
1, ``make test`` on the default install's numpy 2): a real tiny sweep through the
launcher whose Discrete int and bool samples reach the jobs as Python values, while
another process sends a pickle that would create a file to the sweep's port.

cluster_utils writes the samples with ``str(dict)``: under numpy 2 a Discrete sample
would print as ``np.int64(2)`` / ``np.False_``, which cluster_utils' own job parser
rejects (every job failed within a second before the launcher handed the jobs plain
values and the job read numpy's reprs as data)."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_sweep import REPO, TINY_SWEEP

pytestmark = [pytest.mark.slow, pytest.mark.stack]


def _port(log: Path, process: subprocess.Popen) -> int | None:
    """The sweep's UDP port, from cluster_utils' log, once it listens."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file():
            found = re.search(r"Communication happening on port: (\d+)", log.read_text())
            if found:
                return int(found.group(1))
        time.sleep(0.2)
    return None


def test_discrete_int_and_bool_samples_reach_the_jobs_as_python_values(tmp_path):
    planted = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {planted}",))

    config = json.loads(json.dumps(TINY_SWEEP))
    config.update(optimization_procedure_name="stack", results_dir=str(tmp_path / "results"))
    config["fixed_params"]["learning_runs_per_job"] = 1
    config["optimization_setting"].update(number_of_samples=2, n_jobs_per_iteration=2)
    config["optimized_params"] = [
        {"param": "config.rl_config.n_envs", "distribution": "Discrete", "options": [1, 2]},
        {"param": "config.rl_config.normalize.norm_obs", "distribution": "Discrete",
         "options": [False, True]},
        {"param": "config.rl_config.learning_rate", "distribution": "TruncatedLogNormal",
         "bounds": [1e-4, 1e-3]},
    ]
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(config))
    root = tmp_path / "results" / "stack"
    with open(tmp_path / "sweep.log", "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "learning.sweep", str(path)],
                                   cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            port = _port(root / "cluster_run.log", process)
            assert port is not None, (tmp_path / "sweep.log").read_text()[-3000:]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(pickle.dumps(Payload()), ("127.0.0.1", port))
            code = process.wait(timeout=600)
        finally:
            process.kill()
    log = (tmp_path / "sweep.log").read_text()
    assert code == 0, log[-3000:]
    assert not planted.exists()
    assert "1 datagram(s) sent to the sweep's port were not signed by its jobs" in log
    kept = sorted((root / "best_jobs").glob("*/settings.json"))
    assert len(kept) == 2
    for settings_file in kept:
        rl = json.loads(settings_file.read_text())["config"]["rl_config"]
        assert type(rl["n_envs"]) is int and rl["n_envs"] in (1, 2)
        assert type(rl["normalize"]["norm_obs"]) is bool
        assert type(rl["learning_rate"]) is float
    print(f"numpy {np.__version__}: {len(kept)} jobs finished with plain values")
