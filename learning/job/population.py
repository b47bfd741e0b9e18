"""Population-based training in the job: after each training iteration of all its runs, a
job in the bottom share of the sweep exploits a job of the top share and explores its
settings (the rule and the settings ``pbt.*``: learning.plugins.population).

**Barrier.** With PBT a run starts training iteration k+1 only once every run of the job
completed iteration k and the job decided (the runs' models may be replaced).

**Exploit.** The donor's checkpoint after its iteration k is, for every run r, the model
its attempt of iteration k left (``run_<r>.<k-1>-<attempt>/model.zip``, read from the
donor's restart state as data) with the files that travel with it (VecNormalize
statistics, a SAC replay buffer). A donor without a complete checkpoint of every run (a
model missing, unreadable or of other timesteps than its state records, a file not owned
by this user, another number of runs) is skipped and the next of the top share tried; if
none has one, the job goes on as it is and the lineage records why. The files are copied
(temporary file, then rename) into ``pbt_<k>/run_<r>/`` of the job's own working dir,
never referenced, so the donor may delete or overwrite its own; the runs continue from
the copies (their timesteps are the donor's; the job's iteration counter stays k).

**Explore.** The donor's values that trained its iteration k, explored
(learning.plugins.population.explore) inside the bounds the sweep definition gives
(``<results>/sweep_definition.json``, saved by the launcher), checked like any job's
configs; they hold from iteration k+1 on (the job's schedule).

**Restarts.** The schedule, the exploits and the decisions are part of the restart state
(``pbt`` in job_state.json, saved with the runs' new models in one write), so a job
killed at any point decides each iteration once and trains each iteration with its
schedule's values; the lineage file (learning.records.lineage) is a copy, written after.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learning.contract import (
    MODEL_FILE,
    OUTCOME_OK,
    PBT_CHECKPOINT_DIR,
    WORKING_DIRS_FOLDER,
    RunDirName,
    normalization_path,
    replay_buffer_path,
)
from learning.job.continuation import model_timesteps
from learning.job.settings import JobConfigError, MergedConfigs, merged_configs
from learning.plugins.population import (
    PbtOptions,
    PopulationError,
    decide,
    explore,
    space_of_definition,
)
from learning.records.intermediate import IntermediateRecord, sweep_records
from learning.records.job_state import PENDING, JobState, StateError, load_state
from learning.records.lineage import (
    Exploit,
    Lineage,
    ScheduleEntry,
    Skip,
    lineage_path,
    values_at,
    write_job_and_sweep_lineage,
    write_lineage,
)
from learning.records.sweep_definition import DEFINITION_FILE, read_definition

EXPLORE_TRIES = 20  #: explored values that fail the config checks are drawn again


def setting_value(settings: dict[str, Any], name: str) -> Any:
    """The value of parameter ``name`` (dotted) in the job's settings; KeyError if absent."""
    if name in settings:
        return settings[name]
    node: Any = settings
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(name)
        node = node[part]
    return node


def settings_with(settings: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the job's settings (plain dicts) with the parameters' values replaced."""
    result = _plain(settings)
    for name, value in values.items():
        if name in result:
            result[name] = value
            continue
        node = result
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result


def _plain(value: Any) -> Any:
    """Settings as plain, mutable dicts and lists (cluster_utils hands frozen ones)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return copy.copy(value)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Population:
    """The PBT part of a job (learning.job.loop): its schedule, barrier and decisions."""

    def __init__(self, settings: dict[str, Any], options: PbtOptions | None, working_dir: Path,
                 state: JobState, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.options = options
        self.working_dir = working_dir
        self.log = log
        self._state = state
        self.job_id = settings.get("id")
        in_sweep = working_dir.parent.name == WORKING_DIRS_FOLDER and self.job_id is not None
        self.results_root = working_dir.parent.parent if in_sweep else None
        self.path = lineage_path(working_dir, self.job_id)
        self._configs: dict[str, MergedConfigs] = {}
        self.space: dict[str, Any] = {}
        self.rng = random.Random(os.urandom(16))
        if options is None:
            return
        if options.exploits and self.results_root is not None:
            definition = read_definition(self.results_root)
            if definition is None:
                raise JobConfigError(
                    f"setting pbt.mutations: the sweep's bounds are read from"
                    f" {self.results_root / DEFINITION_FILE}, which is missing or unreadable"
                    " (the launcher writes it: start the sweep with `lttfs sweep`)")
            try:
                self.space = space_of_definition(definition["search"], options.mutations)
            except PopulationError as e:
                raise JobConfigError(str(e)) from e
        if state.pbt is None:
            state.pbt = self._new_lineage(state)

    def _new_lineage(self, state: JobState) -> Lineage:
        options = self.options
        if options.schedule:
            schedule = [ScheduleEntry(e["from_iteration"], dict(e["values"]))
                        for e in options.schedule]
        else:
            try:
                values = {name: setting_value(self.settings, name) for name in options.mutations}
            except KeyError as e:
                raise JobConfigError(f"setting pbt.mutations: {e.args[0]!r} is not a parameter"
                                     " of this job (name one of the sweep's optimized_params)"
                                     ) from e
            schedule = [ScheduleEntry(0, values)]
        return Lineage(job_id=self.job_id if isinstance(self.job_id, int) else None,
                       metric=options.metric, minimize=options.minimize,
                       training_iterations=state.training_iterations,
                       mutations=list(options.mutations or schedule[0].values),
                       schedule=schedule)

    # ----------------------------------------------------------------- configs

    def roles_for(self, iteration: int, base: MergedConfigs) -> dict[str, dict[str, Any]]:
        """The configs that train 0-based training iteration ``iteration``."""
        lineage = self._lineage
        if lineage is None:
            return base.roles
        values = values_at(lineage.schedule, iteration)
        key = json.dumps(values, sort_keys=True, default=str)
        if key not in self._configs:
            self._configs[key] = merged_configs(settings_with(self.settings, values),
                                                validate=False)
        return self._configs[key].roles

    @property
    def _lineage(self) -> Lineage | None:
        return self._state.pbt if self.options is not None else None

    def may_start(self, iteration: int) -> bool:
        """Whether a run may start 0-based training iteration ``iteration`` (the barrier)."""
        if self.options is None or not self.options.exploits or iteration == 0:
            return True
        return iteration in self._state.pbt.decided

    # ----------------------------------------------------------------- decisions

    def after_settle(self, completed: int, record: IntermediateRecord,
                     save: Callable[[], bool]) -> None:
        """Decide after each iteration every run completed (``completed`` of them) that
        the job has not decided yet; ``record``: the job's own estimates."""
        if self.options is None or not self.options.exploits:
            return
        state, lineage = self._state, self._state.pbt
        for iteration in range(1, min(completed, state.training_iterations - 1) + 1):
            if iteration in lineage.decided:
                continue
            entry = record.after(iteration)
            own = entry.value(self.options.metric) if entry is not None else None
            self._decide(iteration, math.nan if own is None else own)
            lineage.decided.append(iteration)
            if not save():
                return
            self.write_lineage()

    def _decide(self, iteration: int, own: float) -> None:
        peers = self._peer_values(iteration)
        verdict = decide(own, peers, self.options)
        self.log(f"pbt after iteration {iteration}: {verdict.reason}:"
                 f" {'exploiting' if verdict.exploit else 'continuing'}")
        if not verdict.exploit:
            return
        reasons = []
        donors = list(verdict.donors)
        self.rng.shuffle(donors)  # one drawn from the top share; the next if it has none
        for donor in donors:
            problem = self._exploit(iteration, donor, own, peers[donor])
            if problem is None:
                return
            reasons.append(f"job {donor}: {problem}")
            self.log(f"pbt: skipping donor job {donor}: {problem}")
        self._state.pbt.skipped.append(Skip(iteration, "; ".join(reasons)))
        self.log("pbt: no donor of the top share has a complete checkpoint; continuing")

    def _peer_values(self, iteration: int) -> dict[int, float]:
        if self.results_root is None:
            return {}
        values = {}
        for _path, record in sweep_records(self.results_root):
            if record is None or record.job_id is None or record.job_id == self.job_id:
                continue
            entry = record.after(iteration)
            value = entry.value(self.options.metric) if entry is not None else None
            if value is not None:
                values[record.job_id] = value
        return values

    def _exploit(self, iteration: int, donor: int, own: float, donor_value: float) -> str | None:
        """Copy the donor's checkpoint after ``iteration`` and explore its values; why not
        (None: done)."""
        donor_dir = self.working_dir.parent / str(donor)
        try:
            donor_state = load_state(donor_dir)
        except StateError as e:
            return f"its restart state is unusable ({e})"
        if donor_state is None or donor_state.pbt is None:
            return f"no restart state with a PBT schedule in {donor_dir}"
        if len(donor_state.runs) != len(self._state.runs):
            return (f"it has {len(donor_state.runs)} runs, this job"
                    f" {len(self._state.runs)}")
        sources = []
        for run in donor_state.runs:
            found = self._checkpoint(donor_dir, run, iteration)
            if isinstance(found, str):
                return found
            sources.append(found)
        target = self.working_dir / PBT_CHECKPOINT_DIR.format(iteration=iteration)
        copied = []
        for run, (model, steps) in zip(self._state.runs, sources, strict=True):
            destination = target / f"run_{run.run}" / MODEL_FILE
            problem = _copy_checkpoint(model, destination)
            if problem:
                return problem
            if model_timesteps(destination) != steps or sha256_of(destination) != sha256_of(model):
                return f"the copy of {model} differs from it (changed while copied?)"
            copied.append((destination, steps))
        before = values_at(self._state.pbt.schedule, iteration - 1)
        donor_values = values_at(donor_state.pbt.schedule, iteration - 1)
        after, moves = self._explored(donor_values)
        for run, (destination, steps) in zip(self._state.runs, copied, strict=True):
            run.resume_model = str(destination.relative_to(self.working_dir))
            run.resume_timesteps = steps
            run.iteration_start_timesteps, run.iteration_target_timesteps = steps, None
            run.status = PENDING
        lineage = self._state.pbt
        lineage.schedule = [e for e in lineage.schedule if e.from_iteration < iteration]
        lineage.schedule.append(ScheduleEntry(iteration, after))
        lineage.exploits.append(Exploit(
            iteration=iteration, donor=donor, donor_iteration=iteration, own_value=own,
            donor_value=donor_value, before=before, donor_values=donor_values, after=after,
            moves=moves, timesteps=[steps for _, steps in copied],
            model_sha256=[sha256_of(destination) for destination, _ in copied],
            time=time.time()))
        self.log(f"pbt: continuing from job {donor}'s checkpoint after iteration {iteration}"
                 f" ({own:.4g} -> {donor_value:.4g}); values {before} -> {after} ({moves})")
        return None

    def _checkpoint(self, donor_dir: Path, run: Any, iteration: int) -> tuple[Path, int] | str:
        """The model that the donor's run left after ``iteration``, and its timesteps."""
        for attempt in reversed(run.attempts):
            name = RunDirName.parse(attempt.dir)
            if attempt.outcome != OUTCOME_OK or name is None \
                    or (name.run, name.iteration) != (run.run, iteration - 1):
                continue
            model = donor_dir / attempt.dir / MODEL_FILE
            if not _owned_file(model):
                return f"{model} is missing or not a file of this user"
            steps = model_timesteps(model)
            if steps is None or steps != attempt.timesteps:
                return f"{model} is not the complete checkpoint its state records"
            return model, steps
        return f"run {run.run} has no complete checkpoint after iteration {iteration}"

    def _explored(self, donor_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The donor's values explored, inside their bounds and passing the config checks
        (after EXPLORE_TRIES draws that fail them: the donor's values)."""
        values = {name: donor_values[name] for name in self.options.mutations}
        for _ in range(EXPLORE_TRIES):
            after, moves = explore(values, self.space, self.options, self.rng)
            try:
                merged_configs(settings_with(self.settings, after))
            except JobConfigError as e:
                self.log(f"pbt: explored values {after} fail the config checks ({e}); drawing"
                         " again")
                continue
            return after, moves
        return values, {name: "kept (explored values failed the config checks)"
                        for name in values}

    def write_lineage(self) -> None:
        """Copy the lineage to its file and rebuild the sweep's global one; a failed write
        is logged (the restart state holds it)."""
        if self._lineage is None:
            return
        try:
            if self.results_root is None:
                write_lineage(self.path, self._lineage)
            else:
                write_job_and_sweep_lineage(self.path, self._lineage, self.results_root)
        except OSError as e:
            self.log(f"cannot write the PBT lineage {self.path}: {e}")


def _owned_file(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()


def _copy_checkpoint(model: Path, destination: Path) -> str | None:
    """Copy the model and the files beside it that travel with it; why not (None: done)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    pairs = [(model, destination)]
    for companion in (normalization_path, replay_buffer_path):
        if companion(model).exists():
            if not _owned_file(companion(model)):
                return f"{companion(model)} is not a file of this user"
            pairs.append((companion(model), companion(destination)))
    for source, target in pairs:
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
        except OSError as e:
            temporary.unlink(missing_ok=True)
            return f"cannot copy {source} to {target}: {e}"
    return None
