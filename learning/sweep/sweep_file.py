"""An hp_optim file as cluster_utils 3.0 reads it, and the shape checks cluster_utils skips.

The file is read with cluster_utils' own reader (smart_settings, the same ``key=value``
overrides as ``python -m cluster_utils.hp_optimization FILE key=value ...``), so the
launcher sees exactly the settings cluster_utils will run.  An hp_optim file with
``optimized_params`` is an ``hp_optimization``, one with ``hyperparam_list`` a
``grid_search``.  :func:`shape_problems` finds what cluster_utils would only notice
after it started (a missing or misspelled setting, a bad distribution) or never (an
ignored, misspelled key); every problem is a :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import argparse
import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.config import ConfigError, json_kind

HP_OPTIMIZATION = "hp_optimization"
GRID_SEARCH = "grid_search"
MODULES = {HP_OPTIMIZATION: "cluster_utils.hp_optimization",
           GRID_SEARCH: "cluster_utils.grid_search"}

COMMON_KEYS = ("optimization_procedure_name", "results_dir", "script_relative_path",
               "environment_setup", "cluster_requirements", "fixed_params")
OPTIONAL_KEYS = ("run_in_working_dir", "git_params", "remove_jobs_dir", "remove_working_dirs",
                 "no_user_interaction", "generate_report", "singularity")
REQUIRED = {
    HP_OPTIMIZATION: COMMON_KEYS + ("optimized_params", "optimizer_str", "optimizer_settings",
                                    "optimization_setting", "num_best_jobs_whose_data_is_kept"),
    GRID_SEARCH: COMMON_KEYS + ("hyperparam_list", "restarts"),
}
OPTIONAL = {
    HP_OPTIMIZATION: OPTIONAL_KEYS + ("kill_bad_jobs_early", "early_killing_params"),
    GRID_SEARCH: OPTIONAL_KEYS + ("samples", "local_run", "load_existing_results"),
}
#: what cluster_utils 3.0's job script builder (Job.generate_execution_cmd) reads
ENVIRONMENT_KEYS = ("virtual_env_path", "conda_env_path", "variables", "pre_job_script",
                    "is_python_script", "run_as_module", "custom_python_executable_path")
#: optimization_setting: the keyword arguments of cluster_utils' job_manager.hp_optimization
#: that its main() leaves to the file
OPTIMIZATION_REQUIRED = ("metric_to_optimize", "minimize", "number_of_samples",
                         "n_jobs_per_iteration")
OPTIMIZATION_OPTIONAL = ("run_local", "n_completed_jobs_before_resubmit")
#: optimizer_settings per optimizer_str (the optimizer classes' keyword arguments)
OPTIMIZER_SETTINGS = {"cem_metaoptimizer": ("num_jobs_in_elite", "with_restarts"),
                      "nevergrad": ("opt_alg",)}


class SweepFileError(Exception):
    """The hp_optim file cannot be read at all (the message names it)."""


@dataclass
class SweepFile:
    """One hp_optim file with its command-line overrides, as cluster_utils reads it."""

    path: Path
    overrides: list[str]
    params: Any  # smart_settings' AttributeDict (a dict)
    kind: str

    @property
    def name(self) -> str:
        return str(self.params["optimization_procedure_name"])

    @property
    def results_root(self) -> Path:
        """results_dir/<name> as cluster_utils builds it (relative: under your home)."""
        return Path(os.path.join(Path.home(), str(self.params["results_dir"]), self.name))

    @property
    def main_path(self) -> Path:
        """Where jobs start: the current directory (run_in_working_dir), else a git clone
        of it, which has the same layout."""
        return Path.cwd()

    @property
    def module(self) -> str:
        return MODULES[self.kind]

    @property
    def number_of_samples(self) -> int | None:
        if self.kind != HP_OPTIMIZATION:
            return None
        return self.params["optimization_setting"]["number_of_samples"]

    @property
    def run_local(self) -> bool | None:
        if self.kind == GRID_SEARCH:
            return self.params.get("local_run")
        return self.params["optimization_setting"].get("run_local")

    def fixed(self) -> dict[str, Any]:
        return dict(self.params["fixed_params"])

    def problem(self, key: str, problem: str, valid: str = "") -> ConfigError:
        return ConfigError(self.path, key, problem, valid)


def read_sweep_file(path: str | Path, overrides: list[str]) -> SweepFile:
    """Read ``path`` with cluster_utils' reader and apply ``overrides`` (``key=value``)."""
    from cluster_utils.server.settings import read_main_script_params_from_args

    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"{path}: no such file")
    try:
        params = read_main_script_params_from_args(
            argparse.Namespace(settings_file=path, settings=list(overrides))
        )
    except Exception as e:  # smart_settings and cluster_utils raise many kinds
        raise SweepFileError(f"{path}: cluster_utils cannot read it: {e}") from e
    has_optimized, has_grid = "optimized_params" in params, "hyperparam_list" in params
    if has_optimized == has_grid:
        raise SweepFileError(
            f"{path}: give either optimized_params (hp_optimization) or hyperparam_list"
            " (grid_search)" + (", not both" if has_optimized else "")
        )
    kind = HP_OPTIMIZATION if has_optimized else GRID_SEARCH
    return SweepFile(path, list(overrides), params, kind)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_keys(sweep: SweepFile, section: str, given: Any, required: tuple,
                optional: tuple) -> list[ConfigError]:
    prefix = f"{section}." if section else ""
    if not isinstance(given, dict):
        return [sweep.problem(section, f"is {json_kind(given)}", "an object {...}")]
    valid = ", ".join(required + optional)
    problems = [sweep.problem(prefix + key, "missing (required)", valid)
                for key in required if key not in given]
    problems += [sweep.problem(prefix + key, "unknown setting (cluster_utils would ignore it)",
                               valid)
                 for key in given if key not in required + optional]
    return problems


def shape_problems(sweep: SweepFile) -> list[ConfigError]:
    """Settings cluster_utils needs, or would silently ignore, before anything runs."""
    params = sweep.params
    problems = _check_keys(sweep, "", params, REQUIRED[sweep.kind], OPTIONAL[sweep.kind])
    if problems:
        return problems  # the rest reads these keys
    problems += _check_keys(sweep, "environment_setup", params["environment_setup"], (),
                            ENVIRONMENT_KEYS)
    if not isinstance(params["fixed_params"], dict):
        problems.append(sweep.problem("fixed_params", "not an object", "an object {...}"))
    if not isinstance(params["cluster_requirements"], dict):
        problems.append(sweep.problem("cluster_requirements", "not an object",
                                      "an object {...}"))
    if sweep.kind == HP_OPTIMIZATION:
        problems += _optimization_problems(sweep)
    else:
        problems += _grid_problems(sweep)
    return problems


def _optimization_problems(sweep: SweepFile) -> list[ConfigError]:
    params = sweep.params
    setting = params["optimization_setting"]
    problems = _check_keys(sweep, "optimization_setting", setting, OPTIMIZATION_REQUIRED,
                           OPTIMIZATION_OPTIONAL)
    if problems:
        return problems
    for key in ("number_of_samples", "n_jobs_per_iteration"):
        if not _is_int(setting[key], 1):
            problems.append(sweep.problem(f"optimization_setting.{key}",
                                          f"{setting[key]!r}", "an integer >= 1"))
    resubmit = setting.get("n_completed_jobs_before_resubmit", 1)
    per_iteration = setting["n_jobs_per_iteration"]
    if _is_int(per_iteration, 1) and not (_is_int(resubmit, 1) and resubmit <= per_iteration):
        problems.append(sweep.problem("optimization_setting.n_completed_jobs_before_resubmit",
                                      f"{resubmit!r}", f"an integer in [1, {per_iteration}]"))
    if not isinstance(setting["minimize"], bool):
        problems.append(sweep.problem("optimization_setting.minimize",
                                      f"{setting['minimize']!r}", "true or false"))
    if not _is_int(params["num_best_jobs_whose_data_is_kept"], 0):
        problems.append(sweep.problem("num_best_jobs_whose_data_is_kept",
                                      f"{params['num_best_jobs_whose_data_is_kept']!r}",
                                      "an integer >= 0"))
    optimizer = params["optimizer_str"]
    if optimizer not in OPTIMIZER_SETTINGS:
        problems.append(sweep.problem("optimizer_str", f"unknown optimizer {optimizer!r}",
                                      ", ".join(OPTIMIZER_SETTINGS)))
    else:
        names = OPTIMIZER_SETTINGS[optimizer]
        problems += _check_keys(sweep, "optimizer_settings", params["optimizer_settings"],
                                names, ())
    return problems + distribution_problems(sweep)[1]


def distribution_problems(sweep: SweepFile) -> tuple[list, list[ConfigError]]:
    """cluster_utils' own distributions of optimized_params, and the problems of each."""
    from cluster_utils.hp_optimization import get_distribution

    distributions, problems = [], []
    items = sweep.params["optimized_params"]
    if not isinstance(items, list) or not items:
        return [], [sweep.problem("optimized_params", "not a non-empty list",
                                  '[{"param": ..., "distribution": ..., "bounds": [lo, hi]}]')]
    for index, item in enumerate(items):
        key = f"optimized_params[{index}]"
        if not isinstance(item, dict) or "param" not in item or "distribution" not in item:
            problems.append(sweep.problem(key, f"{item!r}", 'an object with "param",'
                                          ' "distribution" and "bounds" or "options"'))
            continue
        key = f"{key} '{item['param']}'"
        try:
            distributions.append(get_distribution(**copy.deepcopy(dict(item))))
        except (NotImplementedError, ValueError, TypeError) as e:
            problems.append(sweep.problem(key, str(e), "distribution TruncatedNormal,"
                                          " TruncatedLogNormal, IntNormal, IntLogNormal with"
                                          " bounds [lower, upper] (lower < upper; > 0 for Log;"
                                          " integers for Int), or Discrete with options"))
    return distributions, problems


def _grid_problems(sweep: SweepFile) -> list[ConfigError]:
    params = sweep.params
    problems = []
    if not _is_int(params["restarts"], 1):
        problems.append(sweep.problem("restarts", f"{params['restarts']!r}", "an integer >= 1"))
    items = params["hyperparam_list"]
    if not isinstance(items, list) or not items:
        return problems + [sweep.problem("hyperparam_list", "not a non-empty list",
                                         '[{"param": ..., "values": [...]}]')]
    seen = set()
    for index, item in enumerate(items):
        if (not isinstance(item, dict) or set(item) != {"param", "values"}
                or not isinstance(item["values"], list) or not item["values"]):
            problems.append(sweep.problem(f"hyperparam_list[{index}]", f"{item!r}",
                                          'an object {"param": NAME, "values": [...]}'))
            continue
        names = item["param"] if isinstance(item["param"], list) else [item["param"]]
        for name in names:
            if name in seen:
                problems.append(sweep.problem(f"hyperparam_list[{index}]",
                                              f"parameter {name!r} given twice"))
            seen.add(name)
    return problems


def job_settings(sample: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    """A job's settings as cluster_utils builds them: the sample's values (dotted names)
    and the fixed params, nested at the dots (Job.generate_final_setting)."""
    from cluster_utils.server.utils import nested_to_dict, process_other_params, update_recursive

    nested_sample = nested_to_dict([(name.split("."), value) for name, value in sample.items()])
    return update_recursive(nested_sample, process_other_params(fixed, None, None))
