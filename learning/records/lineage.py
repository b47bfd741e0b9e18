"""A job's population-based-training lineage: its schedule of settings and every exploit
(written by learning.job.population; read by the inspection, learning.analysis.lineage).

Every PBT job of a sweep writes ``<results_dir>/<name>/pbt_lineage/job_<id>.json``
(atomically, after each decision), outside ``working_directories/``, which cluster_utils
deletes; a job run standalone writes ``pbt_lineage.json`` in its working dir. The sweep's
global file ``<results_dir>/<name>/pbt_lineage.json`` holds all of them (format
``lttfs-lineage-sweep/1``: ``{"format", "jobs": {"<id>": <job lineage>}}``), rebuilt by
each job after it wrote its own and by the inspection. The dataclasses below are a job
file's schema (format ``lttfs-lineage/1``).
"""

from __future__ import annotations

import dataclasses
import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json
from learning.contract import LINEAGE_DIR, LINEAGE_FILE, SWEEP_LINEAGE_FILE, WORKING_DIRS_FOLDER
from learning.locks import UNSUPPORTED
from learning.records.typed_json import read_format_file, write_dataclass_file

FORMAT = "lttfs-lineage/1"
SWEEP_FORMAT = "lttfs-lineage-sweep/1"


@dataclass
class ScheduleEntry:
    """The values of the mutated parameters from one training iteration on."""

    from_iteration: int  #: 0-based: the first training iteration trained with them
    values: dict[str, Any]


@dataclass
class Exploit:
    """After its iteration ``iteration`` the job continued from ``donor``'s checkpoint."""

    iteration: int  #: k (1-based): the job's iterations done when it exploited
    donor: int  #: the donor's job id
    donor_iteration: int  #: the donor's checkpoint: after its iteration k
    own_value: float  #: the job's metric after k
    donor_value: float  #: the donor's metric after k
    before: dict[str, Any]  #: the job's values that trained its iteration k
    donor_values: dict[str, Any]  #: the donor's values that trained its iteration k
    after: dict[str, Any]  #: the explored values, from iteration k on
    moves: dict[str, str]  #: per parameter: "resampled" or "x<factor>"
    timesteps: list[int]  #: each run's copied model's timesteps
    model_sha256: list[str]  #: each run's copied model.zip (equal to the donor's)
    time: float


@dataclass
class Skip:
    """A decision to exploit that found no usable checkpoint."""

    iteration: int
    reason: str


@dataclass
class Lineage:
    format: str = FORMAT
    job_id: int | None = None
    metric: str | None = None
    minimize: bool = False
    training_iterations: int | None = None
    mutations: list[str] = field(default_factory=list)
    schedule: list[ScheduleEntry] = field(default_factory=list)
    exploits: list[Exploit] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    #: the iterations after which the job decided (exploited or not)
    decided: list[int] = field(default_factory=list)

    def values_at(self, iteration: int) -> dict[str, Any]:
        """The values that trained 0-based training iteration ``iteration``."""
        return values_at(self.schedule, iteration)


def values_at(schedule: list[ScheduleEntry], iteration: int) -> dict[str, Any]:
    current: dict[str, Any] = {}
    for entry in schedule:
        if entry.from_iteration <= iteration:
            current = entry.values
    return dict(current)


def lineage_path(working_dir: Path, job_id: object) -> Path:
    """Beside the other jobs' lineages when cluster_utils runs the job, else in its own
    working dir."""
    working_dir = Path(working_dir)
    if working_dir.parent.name == WORKING_DIRS_FOLDER and job_id is not None:
        return working_dir.parent.parent / LINEAGE_DIR / f"job_{job_id}.json"
    return working_dir / LINEAGE_FILE


def read_lineage(path: Path) -> Lineage | None:
    """A job's lineage; None if missing, unreadable, of another format or shape."""
    return read_format_file(path, Lineage, FORMAT)


def write_lineage(path: Path, lineage: Lineage) -> None:
    """Write atomically (OSError if it cannot be written)."""
    write_dataclass_file(path, lineage)


def sweep_lineages(results_root: Path) -> dict[int, Lineage]:
    """Every readable job lineage of a sweep, by job id."""
    folder = Path(results_root) / LINEAGE_DIR
    found: dict[int, Lineage] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("job_*.json")):
        lineage = read_lineage(path)
        if lineage is not None and lineage.job_id is not None \
                and path.name == f"job_{lineage.job_id}.json":
            found[lineage.job_id] = lineage
    return found


def write_job_and_sweep_lineage(path: Path, lineage: Lineage, results_root: Path) -> None:
    """Write a job's lineage, then rebuild the sweep's global file, both under the sweep's
    lineage lock, so that the global file a job writes last holds every job's newest
    (a file system without flock: without it; the inspection rebuilds it)."""
    folder = Path(results_root) / LINEAGE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError as e:
            if e.errno not in UNSUPPORTED:
                raise
        write_lineage(path, lineage)
        write_sweep_lineage(results_root)


def write_sweep_lineage(results_root: Path) -> Path:
    """Rebuild the sweep's global lineage file from the jobs' files; its path."""
    path = Path(results_root) / SWEEP_LINEAGE_FILE
    jobs = {str(job): dataclasses.asdict(lineage)
            for job, lineage in sorted(sweep_lineages(results_root).items())}
    atomic_write_json(path, {"format": SWEEP_FORMAT, "jobs": jobs}, indent=1)
    return path
