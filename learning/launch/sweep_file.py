"""An hp_optim file as cluster_utils 3.0 reads it, and the shape checks cluster_utils skips.

The file is read with cluster_utils' own reader steps (smart_settings and its hooks, the
same ``key=value`` overrides as ``python -m cluster_utils.hp_optimization FILE key=value
...``) but nothing in it is evaluated: only ``{$NAME}`` is substituted
(learning.launch.substitution), and the launcher hands cluster_utils these very settings
(learning.launch.cluster_utils_patches).  An hp_optim file with
``optimized_params`` is an ``hp_optimization``, one with ``hyperparam_list`` a
``grid_search``.  :func:`shape_problems` finds what cluster_utils would only notice
after it started (a missing or misspelled setting, a bad distribution) or never (an
ignored, misspelled key); every problem is a :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.config import ConfigError, json_kind
from learning.config.checks import is_integer
from learning.launch.substitution import SubstitutionError, substitute_all

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
    """Read ``path`` as cluster_utils does, with its ``key=value`` ``overrides``, but
    without evaluating anything: smart_settings' dynamic mode is off and only ``{$NAME}``
    is substituted (learning.launch.substitution)."""
    import smart_settings
    from cluster_utils.base.settings import add_cmd_line_params, check_reserved_params
    from cluster_utils.server.settings import GenerateReportSetting, is_settings_file
    from cluster_utils.server.utils import check_import_in_fixed_params, rename_import_promise

    path = Path(path)
    if not path.is_file():
        raise SweepFileError(f"{path}: no such file")

    def add_overrides(settings: dict) -> None:
        add_cmd_line_params(settings, list(overrides))

    try:
        if not is_settings_file(os.fspath(path)):
            raise SweepFileError(f"{path}: not a settings file (.json, .yaml, .yml, .toml)")
        params = smart_settings.load(
            os.fspath(path), dynamic=False, make_immutable=True,
            pre_unpack_hooks=[check_import_in_fixed_params],
            post_unpack_hooks=[substitute_all, add_overrides, check_reserved_params,
                               rename_import_promise,
                               GenerateReportSetting.parse_generate_report_setting_hook],
        )
    except SweepFileError:
        raise
    except SubstitutionError as e:
        raise SweepFileError(f"{path}: {e}") from e
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
    problems += _name_problems(sweep)
    if sweep.kind == HP_OPTIMIZATION:
        problems += _optimization_problems(sweep)
    else:
        problems += _grid_problems(sweep)
    return problems


def _name_problems(sweep: SweepFile) -> list[ConfigError]:
    """optimization_procedure_name is one folder name: cluster_utils writes the results to
    results_dir/<name> and makes its job folder ~/.cache/cluster_utils/<name>-<time>-jobs.
    A '/' puts the results in a subfolder, or with '..' outside results_dir (and the job
    folder then fails with a traceback); '.' and '..' are results_dir itself or its parent;
    any other leading '.' hides the results folder (and the launcher's --fresh moves a
    folder aside next to it), so the rule is simply: no leading '.'."""
    name = sweep.params["optimization_procedure_name"]
    valid = ("one folder name (results go to results_dir/<name>): not empty, without '/' or"
             " NUL characters, not starting with '.', e.g. \"ppo_local\"")
    if not isinstance(name, str):
        problem = f"is {json_kind(name)} ({name!r})"
    elif not name:
        problem = "is empty"
    elif "/" in name or "\0" in name:
        what = "'/'" if "/" in name else "a NUL character"
        problem = (f"{name!r} contains {what}: the results would not go to a folder of"
                   " results_dir" + (" (with '..': outside results_dir)" if ".." in name else "")
                   + ", and cluster_utils fails to make its job folder from it")
    elif name in (".", ".."):
        problem = f"{name!r} is results_dir itself or its parent, not a folder in it"
    elif name.startswith("."):
        problem = f"{name!r} starts with '.' (a hidden results folder)"
    else:
        return []
    return [sweep.problem("optimization_procedure_name", problem, valid)]


def _optimization_problems(sweep: SweepFile) -> list[ConfigError]:
    params = sweep.params
    setting = params["optimization_setting"]
    problems = _check_keys(sweep, "optimization_setting", setting, OPTIMIZATION_REQUIRED,
                           OPTIMIZATION_OPTIONAL)
    if problems:
        return problems
    for key in ("number_of_samples", "n_jobs_per_iteration"):
        if not is_integer(setting[key], 1):
            problems.append(sweep.problem(f"optimization_setting.{key}",
                                          f"{setting[key]!r}", "an integer >= 1"))
    resubmit = setting.get("n_completed_jobs_before_resubmit", 1)
    per_iteration = setting["n_jobs_per_iteration"]
    if is_integer(per_iteration, 1) and not (is_integer(resubmit, 1) and resubmit <= per_iteration):
        problems.append(sweep.problem("optimization_setting.n_completed_jobs_before_resubmit",
                                      f"{resubmit!r}", f"an integer in [1, {per_iteration}]"))
    if not isinstance(setting["minimize"], bool):
        problems.append(sweep.problem("optimization_setting.minimize",
                                      f"{setting['minimize']!r}", "true or false"))
    if not is_integer(params["num_best_jobs_whose_data_is_kept"], 0):
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
        if item["distribution"] == "Discrete":
            options_problem = _options_problem(sweep, key, item)
            if options_problem:
                problems.append(options_problem)
                continue
        try:
            distributions.append(get_distribution(**copy.deepcopy(dict(item))))
        except (NotImplementedError, ValueError, TypeError) as e:
            problems.append(sweep.problem(key, str(e), "distribution TruncatedNormal,"
                                          " TruncatedLogNormal, IntNormal, IntLogNormal with"
                                          " bounds [lower, upper] (lower < upper; > 0 for Log;"
                                          " integers for Int), or Discrete with options"))
    return distributions, problems


def option_kind(value: Any) -> str:
    """A Discrete option's kind: "number" (integers too), "string", "boolean", "null",
    "list" or "object"."""
    kind = json_kind(value)
    return "number" if kind == "integer" else kind


def as_sampled(options: list) -> list:
    """Discrete options as cluster_utils' cem_metaoptimizer hands them to the jobs: it
    samples with numpy's ``random.choice``, which converts the options to one common type
    (``[1, 0.5]`` gives ``[1.0, 0.5]``, ``[0.1, "auto"]`` gives ``["0.1", "auto"]``)."""
    import numpy as np

    return np.array(options).tolist()


def _options_problem(sweep: SweepFile, key: str, item: dict) -> ConfigError | None:
    """Discrete options that make cluster_utils fail: not a non-empty list (numpy's
    ``random.choice`` fails on an empty one; a string is taken letter by letter), a list
    (``random.choice``: "a must be 1-dimensional", once the sweep runs), an object or
    null (types cluster_utils refuses)."""
    options = item.get("options", item.get("bounds"))  # cluster_utils takes either
    if not isinstance(options, list) or not options:
        given = "options" in item or "bounds" in item
        return sweep.problem(f"{key} options", f"is {options!r}" if given else "missing",
                             "a non-empty list of options")
    for index, option in enumerate(options):
        kind = option_kind(option)
        if kind in ("list", "object"):
            why = ("a list: cluster_utils samples Discrete options with numpy's random.choice,"
                   " which fails on lists once the sweep runs (\"a must be 1-dimensional\")"
                   if kind == "list" else "an object: cluster_utils refuses objects as"
                   " Discrete options (a TypeError when it starts)")
            return sweep.problem(
                f"{key} options[{index}]", f"{option!r} is {why}",
                "strings, numbers or true/false: optimize scalar keys instead (the network's"
                " shape: config.rl_config.num_layers and config.rl_config.num_hidden, which"
                " size every network whose policy_kwargs.net_arch entry is null; an object's"
                " keys by their dotted names), or give whole lists as the values of a"
                " grid_search (hyperparam_list)")
        if kind == "null":
            return sweep.problem(f"{key} options[{index}]",
                                 "null is not a value cluster_utils accepts as a setting",
                                 "strings, numbers or true/false (a null comes only from the"
                                 " template)")
    return None


def mixed_options_problem(sweep: SweepFile, index: int, param: str,
                          options: list) -> ConfigError | None:
    """Discrete options of more than one kind, refused.

    The rule: the options of one Discrete parameter are all strings, all true/false, or
    all numbers.  cluster_utils' cem_metaoptimizer samples them with numpy's
    ``random.choice``, which converts them to one common type (:func:`as_sampled`):
    ``[0.1, "auto"]`` reaches the jobs as ``["0.1", "auto"]``, ``[true, 0]`` as ``[1, 0]``,
    so jobs get values nobody wrote (and fail, or run something else).  The launcher
    keeps the types, cluster_utils run directly does not, and nevergrad keeps them too; the
    rule is the same for all, so that a file means the same however it is run.  Integers
    mixed with floats are allowed: numpy makes them floats (``[1, 0.5]`` gives
    ``[1.0, 0.5]``), and the pre-flight checks both forms with the job's own checks
    (learning.preflight.checks), so a key that must be an integer refuses them; an integer
    that a float cannot hold exactly is refused here.
    """
    key = f"optimized_params[{index}] '{param}' options"
    kinds = list(dict.fromkeys(option_kind(option) for option in options))
    sampled = as_sampled(options)
    if len(kinds) > 1:
        words = {"number": "numbers", "string": "strings", "boolean": "true/false"}
        example = ""
        if param.endswith(".ent_coef"):
            example = ("; for ent_coef: all strings (\"auto\", or \"auto_0.1\" to learn it from"
                       " 0.1) or all numbers (0.1, 0.01)")
        elif param.endswith(".target_entropy"):
            example = '; for target_entropy: "auto" in fixed_params, or all numbers'
        return sweep.problem(
            key, f"{options!r} mix {' and '.join(words.get(k, k) for k in kinds)}:"
            " cluster_utils samples Discrete options with numpy, which converts them to one"
            f" type, so the jobs would get {sampled!r}",
            "options of one kind: all numbers, all strings, or all true/false (one sweep per"
            f" kind){example}")
    changed = [option for option, value in zip(options, sampled, strict=True)
               if isinstance(option, int) and value != option]
    if changed:
        return sweep.problem(
            key, f"{changed[0]!r} among floats: numpy makes it"
            f" {float(changed[0])!r}", "integers a float holds exactly, or all integers")
    return None


def _grid_problems(sweep: SweepFile) -> list[ConfigError]:
    params = sweep.params
    problems = []
    if not is_integer(params["restarts"], 1):
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
