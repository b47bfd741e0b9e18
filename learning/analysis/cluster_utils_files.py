"""What cluster_utils recorded about an optimization itself: the optimized metric and
direction, the parameter names, the number of samples (all optional).

hp_optimization pickles its optimizer to ``status.pickle`` after every iteration,
grid_search pickles its parameter and metric names to ``report_data.pickle`` at the end;
reduced_data.csv (hp_optimization) names the parameters and the metric too. The pickles
are read without running code from them (:mod:`learning.records.safe_pickle`): a results
folder made or changed by someone else cannot run code in the inspection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from learning.analysis.tables import read_csv
from learning.records.safe_pickle import Stub, load_inert


def _read_pickle(path: Path, notes: list[str]) -> dict:
    """The attributes of the object in a cluster_utils pickle, read without running any
    code from the file (learning.records.safe_pickle); {} if missing or unreadable."""
    if not path.is_file():
        return {}
    try:
        value = load_inert(path)
    except Exception as e:  # a partial file, not a pickle: the unpickler's own errors
        notes.append(f"{path}: could not be read ({type(e).__name__}: {e}); inferring instead")
        return {}
    if isinstance(value, Stub):
        return value.attributes()
    return value if isinstance(value, dict) else {}


def _of_type(value, kind: type):
    """``value`` if it is a ``kind`` (an int is not a bool, nor a bool an int), else None."""
    if isinstance(value, bool) != (kind is bool):
        return None
    return value if isinstance(value, kind) else None


def _flatten_names(names) -> list[str]:
    """Grid searches may vary several keys together: ('a', 'b') -> 'a', 'b'. Anything but
    names (strings) is left out."""
    out: list[str] = []
    for name in names if isinstance(names, (list, tuple)) else ():
        if isinstance(name, (tuple, list)):
            out.extend(n for n in name if isinstance(n, str))
        elif isinstance(name, str):
            out.append(name)
    return out


@dataclass
class Recorded:
    """What cluster_utils recorded about the optimization itself (all optional)."""

    run_type: str = "UNKNOWN"
    params: list[str] = field(default_factory=list)
    metric: str | None = None
    minimize: bool | None = None
    number_of_samples: int | None = None
    metric_columns: set = field(default_factory=set)
    grid_search_done: bool = False


def read_recorded(root: Path, notes: list[str]) -> Recorded:
    """metadata.json, the pickles, reduced_data.csv; problems become ``notes``."""
    rec = Recorded()
    if (root / "metadata.json").is_file():
        try:
            metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            notes.append(f"{root / 'metadata.json'}: unreadable ({e})")
            metadata = {}
        run_type = metadata.get("run_type") if isinstance(metadata, dict) else None
        rec.run_type = run_type if isinstance(run_type, str) else rec.run_type
    status = _read_pickle(root / "status.pickle", notes)  # hp_optimization, per iteration
    rec.metric = _of_type(status.get("metric_to_optimize"), str)
    rec.minimize = _of_type(status.get("minimize"), bool)
    rec.params = _flatten_names(status.get("params"))
    rec.number_of_samples = _of_type(status.get("number_of_samples"), int)
    report_data = _read_pickle(root / "report_data.pickle", notes)  # grid_search, at the end
    if "params" in report_data:
        rec.params = rec.params or _flatten_names(report_data["params"])
        rec.metric_columns.update(_flatten_names(report_data.get("metrics")))
        rec.grid_search_done = True
    reduced = root / "reduced_data.csv"
    if not rec.params and reduced.is_file():
        df = read_csv(reduced, notes, index_col=0)
        if df is not None:
            stds = [c for c in df.columns if f"{c}__std" in df.columns]
            rec.params = [c for c in df.columns if c != "job_restarts" and c not in stds
                          and not c.endswith("__std")]
            rec.metric = rec.metric or (stds[0] if stds else None)
    return rec
