"""The pre-flight's probe of a job: started exactly as cluster_utils starts a job, it only
reports what it found, and trains nothing.

The launcher's pre-flight (learning.preflight.interpreter) writes one job script
the way cluster_utils will (``cd``, ``environment_setup``: virtual env, conda env,
variables, ``pre_job_script``; then ``python3 run_learning.py --job-id ...
--cluster-utils-server ... --parameter-dict "{...}"``) and runs it with the environment
variable ``LTTFS_JOB_PROBE`` naming a file. A job script (run_learning.py,
run_singularity.py) that sees the variable reads its command line as a job does, writes
:func:`write_report` there (its interpreter, numpy's version, the settings as it read
them) and exits 0 without registering at any server or touching a working directory.
So the probe fails exactly where a job would fail to start: an interpreter without
cluster_utils or this project, a ``--parameter-dict`` it cannot read.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

PROBE_VARIABLE = "LTTFS_JOB_PROBE"


def probe_report_path() -> Path | None:
    """Where to write the report, if this process is a probe."""
    value = os.environ.get(PROBE_VARIABLE)
    return Path(value) if value else None


def write_report(path: Path, settings: dict[str, Any], script: str) -> int:
    import numpy

    report = {"python": sys.executable, "python_version": sys.version.split()[0],
              "numpy": numpy.__version__, "script": script, "settings": settings}
    Path(path).write_text(json.dumps(report, default=repr))
    return 0


def read_report(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None
