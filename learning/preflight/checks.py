"""Pre-flight of a sweep: everything a job would refuse, found before any job is submitted.

Runs in seconds on the login node and submits nothing (``python -m learning.sweep FILE
--check`` runs only this):

1. the shape of the hp_optim file (:func:`learning.launch.sweep_file.shape_problems`):
   missing or misspelled settings, the procedure name, cluster_utils' own distributions
   and Discrete options it cannot sample (lists, objects);
2. string values and parameter names cluster_utils would hand to a shell unquoted
   (:mod:`learning.preflight.shell_safety`);
3. the job settings, with the job's own code (:func:`learning.job.settings.read_options`,
   :func:`learning.job.settings.merged_configs`, and the container wrapper's checks when
   jobs run through run_singularity.py): the fixed params alone, then every option, both
   bounds and a few samples of each optimized parameter (every value of a grid), then a
   few joint samples.  An error is the job's own, naming the parameter, prefixed with
   where the value came from.  Discrete options are also checked as numpy's sampling
   delivers them (integers among floats as floats), and options of mixed kinds are
   refused (:func:`learning.launch.sweep_file.mixed_options_problem`);
4. the environment (:mod:`learning.preflight.environment`): the script, the venv, that
   results_dir is writable, the cluster requirements;
5. when all that passed, one job started as cluster_utils will start it, in the jobs'
   own interpreter (:mod:`learning.preflight.interpreter`): it must import
   cluster_utils and this project and read its settings as cluster_utils wrote them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from learning.contract import CONTAINER_SCRIPT, ENV_PARAMETER, JOB_SCRIPTS
from learning.launch.sweep_file import (
    HP_OPTIMIZATION,
    SweepFile,
    as_sampled,
    distribution_problems,
    job_settings,
    mixed_options_problem,
    shape_problems,
)
from learning.numpy_scalars import without_numpy_scalars
from learning.preflight import environment as preflight_env
from learning.preflight import pruning as preflight_pruning
from learning.preflight.interpreter import interpreter_problems
from learning.preflight.population import population_problems
from learning.preflight.shell_safety import (
    BARE_WORD,
    IN_DOUBLE_QUOTES,
    OPTIONS,
    WHY_BARE,
    WHY_QUOTED,
    check_value,
)

#: samples drawn per optimized parameter (besides its bounds) and joint samples
SAMPLES_PER_PARAMETER = 5
JOINT_SAMPLES = 5
TEMPLATES_PARAM = "config.config_templates"
#: the fixed params a pruning option is checked with, also when checked on its own
PRUNING_CONTEXT = ("pruning.rule", "pruning.module", "training_iterations")
POPULATION_CONTEXT = ("pbt.mutations", "pbt.schedule", "training_iterations")


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: cluster_utils' distributions of optimized_params (hp_optimization)
    distributions: list = field(default_factory=list)


@dataclass
class Entry:
    """One optimized parameter (or grid entry) and the values to try for it."""

    label: str  # e.g. "optimized_params[1] 'config.rl_config.gamma'"
    values: list[tuple[dict[str, Any], str]]  # ({param: value}, where it came from)
    #: why the entry is refused when the job accepts every value (Discrete options of
    #: mixed kinds: sweep_file.mixed_options_problem)
    refused: str | None = None


def run_preflight(sweep: SweepFile) -> Preflight:
    result = Preflight()
    result.problems += [str(p) for p in shape_problems(sweep)]
    if result.problems:
        return result  # the later checks read those settings
    result.problems += shell_problems(sweep)
    entries: list[Entry] = []
    if sweep.kind == HP_OPTIMIZATION:
        result.distributions, _ = distribution_problems(sweep)
        entries = [_entry_of_distribution(sweep, i, d)
                   for i, d in enumerate(result.distributions)]
        metric_problems = _metric_problems(sweep, entries)
        result.problems += metric_problems + preflight_pruning.optimizer_problems(sweep)
        result.problems += _env_axis_problems(sweep, entries)
    else:
        entries = _grid_entries(sweep)
        metric_problems = []
    if not metric_problems:  # else pruning.metric would be compared with a wrong metric
        result.problems += preflight_pruning.pruning_problems(sweep)
        result.problems += population_problems(sweep)
    name_problems = _fixed_name_problems(sweep, result.distributions)
    result.problems += name_problems
    if not name_problems:
        result.problems += ConfigChecks(sweep, entries).run(result.notes)
    env_problems, env_notes = preflight_env.environment_problems(sweep)
    result.problems += env_problems
    result.notes += env_notes
    if not result.problems:  # one job started as cluster_utils will start it
        probe_problems, probe_notes = interpreter_problems(sweep, result.distributions)
        result.problems += probe_problems
        result.notes += probe_notes
    return result


# --------------------------------------------------------------------------- values to try


def _entry_of_distribution(sweep: SweepFile, index: int, distribution: Any) -> Entry:
    """The values to try; Discrete options also as numpy's sampling hands them to the jobs
    (integers among floats become floats), and options of mixed kinds refused."""
    from cluster_utils.server.distributions import Discrete

    name = distribution.param_name
    refused = None
    if isinstance(distribution, Discrete):
        options = distribution.option_list
        values = [(option, "option") for option in options]
        refused = mixed_options_problem(sweep, index, name, options)
        if refused is None:
            values += [(value, f"option {option!r} as cluster_utils samples it among floats")
                       for option, value in zip(options, as_sampled(options), strict=True)
                       if type(value) is not type(option)]
    else:
        values = [(distribution.lower, "lower bound"), (distribution.upper, "upper bound")]
        distribution.prepare_samples(howmany=SAMPLES_PER_PARAMETER)
        values += [(distribution.sample(), "sampled") for _ in range(SAMPLES_PER_PARAMETER)]
    return Entry(f"optimized_params[{index}] '{name}'",
                 [({name: without_numpy_scalars(value)}, where) for value, where in values],
                 str(refused) if refused else None)


def _grid_entries(sweep: SweepFile) -> list[Entry]:
    entries = []
    for index, item in enumerate(sweep.params["hyperparam_list"]):
        names = item["param"] if isinstance(item["param"], list) else [item["param"]]
        values = []
        for value in item["values"]:
            parts = list(value) if len(names) > 1 else [value]
            values.append((dict(zip(names, parts, strict=False)), "value"))
        entries.append(Entry(f"hyperparam_list[{index}] '{', '.join(names)}'", values))
    return entries


def _env_axis_problems(sweep: SweepFile, entries: list[Entry]) -> list[str]:
    """An optimizer (hp_optimization) ranks the jobs by their raw metric: jobs on
    different envs (``config.rl_common_config.env_id`` among optimized_params) would be
    compared on scores of different scales. Envs are a grid's axis instead, ranked per env
    by the inspection."""
    return [str(sweep.problem(entry.label, "optimizes over envs: the optimizer would compare"
                              " raw scores of different envs",
                              "a grid over envs (cluster_utils.grid_search, hyperparam_list;"
                              " docs/sweeps.md), ranked per env by lttfs inspect; or one env"
                              " per optimization"))
            for entry in entries if entry.label.endswith(f"'{ENV_PARAMETER}'")]


# --------------------------------------------------------------------------- shell safety


def shell_problems(sweep: SweepFile) -> list[str]:
    """Every string cluster_utils would write into a job's bash script unquoted."""
    params = sweep.params
    problems = []
    for name, value in sweep.fixed().items():
        # the names too: they are the keys of the dict cluster_utils writes
        problems += check_value("fixed_params name", name, IN_DOUBLE_QUOTES, WHY_QUOTED)
        problems += check_value(f"fixed_params '{name}'", value, IN_DOUBLE_QUOTES, WHY_QUOTED)
    for index, item in enumerate(params.get("optimized_params") or []):
        if isinstance(item, dict):
            problems += check_value(f"optimized_params[{index}] param", item.get("param"),
                                    IN_DOUBLE_QUOTES, WHY_QUOTED)
        if isinstance(item, dict) and "options" in item:
            problems += check_value(f"optimized_params[{index}] '{item.get('param')}' options",
                                    item["options"], IN_DOUBLE_QUOTES, WHY_QUOTED)
    for index, item in enumerate(params.get("hyperparam_list") or []):
        problems += check_value(f"hyperparam_list[{index}] param", item.get("param"),
                                IN_DOUBLE_QUOTES, WHY_QUOTED)
        problems += check_value(f"hyperparam_list[{index}] values", item.get("values"),
                                IN_DOUBLE_QUOTES, WHY_QUOTED)
    singularity = params.get("singularity") or {}
    for key in ("image", "executable"):
        problems += check_value(f"singularity.{key}", singularity.get(key), BARE_WORD, WHY_BARE)
    problems += check_value("singularity.args", singularity.get("args"), OPTIONS, WHY_BARE)
    environment = params["environment_setup"]
    for key in ("virtual_env_path", "conda_env_path", "pre_job_script",
                "custom_python_executable_path"):
        problems += check_value(f"environment_setup.{key}", environment.get(key), BARE_WORD,
                                WHY_BARE)
    problems += check_value("environment_setup.variables", environment.get("variables"),
                            IN_DOUBLE_QUOTES, WHY_QUOTED)
    for key in ("optimization_procedure_name", "results_dir", "script_relative_path"):
        problems += check_value(key, params[key], BARE_WORD, WHY_BARE)
    problems += check_value("the project directory (current directory)", str(sweep.main_path),
                            BARE_WORD, WHY_BARE)
    return problems


# --------------------------------------------------------------------------- job settings


def _fixed_name_problems(sweep: SweepFile, distributions: list) -> list[str]:
    """cluster_utils' own checks of the fixed params' names and types."""
    from cluster_utils.server.utils import process_other_params

    try:
        process_other_params(sweep.fixed(), None, distributions)
    except (ValueError, TypeError) as e:
        return [str(sweep.problem("fixed_params", str(e)))]
    return []


def _metric_problems(sweep: SweepFile, entries: list[Entry]) -> list[str]:
    """metric_to_optimize must be a metric the jobs report: those of the env the sweep's
    templates choose."""
    from learning.job.metrics import metric_names_of_settings

    if os.path.basename(str(sweep.params["script_relative_path"])) not in JOB_SCRIPTS:
        return []
    metric = sweep.params["optimization_setting"]["metric_to_optimize"]
    try:
        settings = job_settings(ConfigChecks(sweep, entries).reference_sample(), sweep.fixed())
    except (ValueError, TypeError):  # names cluster_utils refuses: reported on their own
        settings = {}
    valid = (*metric_names_of_settings(settings, sweep.main_path), "time_elapsed")
    if metric in valid:
        return []
    return [str(sweep.problem("optimization_setting.metric_to_optimize",
                              f"{metric!r} is not a metric the jobs report", ", ".join(valid)))]


class ConfigChecks:
    """Merge values into the templates and check them with the job's own code."""

    def __init__(self, sweep: SweepFile, entries: list[Entry]) -> None:
        self.sweep = sweep
        self.entries = entries
        self.fixed = sweep.fixed()
        self.uses_wrapper = os.path.basename(str(sweep.params["script_relative_path"])) == (
            CONTAINER_SCRIPT)
        self.values_checked = 0

    def job_problem(self, sample: dict[str, Any], fixed: dict[str, Any]) -> str | None:
        """The job's own error for these settings, None if a job would accept them."""
        from learning.job.population_settings import read_population
        from learning.job.pruning import read_pruning
        from learning.job.settings import JobConfigError, merged_configs, read_options

        settings = job_settings(sample, fixed)
        try:
            options = read_options(settings)
            pruning = read_pruning(settings, options.training_iterations,
                                   project_dir=self.sweep.main_path)
            read_population(settings, options, pruning, project_dir=self.sweep.main_path)
            merged_configs(settings, cwd=self.sweep.main_path)
        except JobConfigError as e:
            return str(e)
        return None

    def singularity_problems(self) -> list[str]:
        """The run_singularity.py wrapper's own checks of the singularity.* settings."""
        from learning.container.settings import (
            SingularitySettingsError,
            singularity_section,
            validate_settings,
        )

        if not self.uses_wrapper:
            return []
        settings = job_settings(self.reference_sample(), self.fixed)
        try:
            validate_settings(singularity_section(settings), self.sweep.main_path)
        except SingularitySettingsError as e:
            return [f"fixed_params: {e}"]
        return []

    def _templates_only(self) -> dict[str, Any]:
        """The least a job needs besides a parameter: the templates file."""
        return {k: v for k, v in self.fixed.items() if k == TEMPLATES_PARAM}

    def reference_sample(self) -> dict[str, Any]:
        """A sample for the parameters that must be set: an optimized templates file."""
        if TEMPLATES_PARAM in self.fixed:
            return {}
        for entry in self.entries:
            if TEMPLATES_PARAM in entry.values[0][0]:
                return dict(entry.values[0][0])
        return {}

    def run(self, notes: list[str]) -> list[str]:
        templates_error = self.job_problem(self.reference_sample(), self._templates_only())
        if templates_error and not self.reference_sample():  # every other check needs them
            return [f"fixed_params: {templates_error}"]
        fixed_problems = self._fixed_problems()
        problems = self.singularity_problems() + fixed_problems
        base = self.fixed if not fixed_problems else self._templates_only()
        for entry in self.entries:
            for sample, where in entry.values:
                self.values_checked += 1
                error = self.job_problem({**self.reference_sample(), **sample}, base)
                if error:
                    value = next(iter(sample.values())) if len(sample) == 1 else sample
                    problems.append(f"{entry.label} = {value!r} ({where}): {error}")
                    break
            else:  # the job's error on a value is the more precise message
                if entry.refused:
                    problems.append(entry.refused)
        if not problems:
            problems += self._joint_problems()
        notes.append(f"job settings: the fixed params, {self.values_checked} values of"
                     f" {len(self.entries)} parameters and joint samples checked with the"
                     " job's own checks")
        return problems

    def _fixed_problems(self) -> list[str]:
        error = self.job_problem(self.reference_sample(), self.fixed)
        if error is None:
            return []
        # each fixed param on its own (with the settings it is read through: a pruning
        # option with its rule), so that every bad one is named; one that fails alone is
        # checked again beside those that pass alone (pruning needs training_iterations,
        # batch_size may need n_steps): only then is it named
        alone = {name: self.job_problem(self.reference_sample(), {**self._templates_only(),
                                                             **self._context(name),
                                                             name: value})
                 for name, value in self.fixed.items() if name != TEMPLATES_PARAM}
        good = {name: self.fixed[name] for name, single in alone.items() if not single}
        named = []
        for name, single in alone.items():
            if single and self.job_problem(self.reference_sample(), {
                    **self._templates_only(), **good, name: self.fixed[name]}):
                named.append(f"fixed_params: {single}")
        return list(dict.fromkeys(named)) or [f"fixed_params: {error}"]

    def _context(self, name: str) -> dict[str, Any]:
        """The fixed params that ``name`` is read through: a ``pruning.*`` option through
        the rule that pruning.rule names (from pruning.module), for training_iterations;
        a ``pbt.*`` option beside pbt.mutations (or pbt.schedule) and training_iterations."""
        if name.startswith("pruning."):
            context = PRUNING_CONTEXT
        elif name.startswith("pbt."):
            context = POPULATION_CONTEXT
        else:
            return {}
        return {key: self.fixed[key] for key in context if key in self.fixed}

    def _joint_problems(self) -> list[str]:
        """A few samples of all parameters at once (interactions between parameters)."""
        import random

        if not self.entries:
            return []
        for _ in range(JOINT_SAMPLES):
            sample: dict[str, Any] = {}
            for entry in self.entries:
                sample.update(random.choice(entry.values)[0])
            error = self.job_problem(sample, self.fixed)
            if error:
                return [f"the joint sample {sample}: {error}"]
        return []


def format_report(sweep: SweepFile, result: Preflight) -> str:
    head = f"pre-flight of {sweep.path} ({sweep.kind}"
    head += f", {sweep.number_of_samples} samples)" if sweep.number_of_samples else ")"
    lines = [head]
    lines += [f"  {note}" for note in result.notes]
    lines += [f"  error: {problem}" for problem in result.problems]
    if result.problems:
        lines.append(f"{len(result.problems)} problem(s); nothing was submitted.")
    else:
        lines.append("pre-flight passed.")
    return "\n".join(lines)

