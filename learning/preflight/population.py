"""Pre-flight checks of population-based training (``pbt.*``, learning.plugins.population)
beyond the job's own (learning.job.population_settings, run with every sample by
learning.preflight.checks.ConfigChecks): every mutated parameter is one the sweep
searches (its bounds or options are where it may go), and a ``pbt.metric`` that is the
optimization's metric is compared in the same direction. The jobs may compare another
metric than the optimization ranks (a dense one such as ``mean_eval_reward`` while the
sweep ranks a sparse ``mean_return_rate``, which is 0 for every job early in training:
ties exploit nobody)."""

from __future__ import annotations

import os

from learning.contract import JOB_SCRIPTS
from learning.launch.definition import definition_of
from learning.launch.sweep_file import HP_OPTIMIZATION, SweepFile, job_settings
from learning.plugins.population import PopulationError, read_pbt, space_of_definition


def population_problems(sweep: SweepFile) -> list[str]:
    params = sweep.params
    if os.path.basename(str(params["script_relative_path"])) not in JOB_SCRIPTS:
        return []
    try:
        pbt = read_pbt(job_settings({}, sweep.fixed()))
    except (PopulationError, ValueError, TypeError):
        return []  # the job settings' check (ConfigChecks) names it
    if pbt is None or not pbt.exploits:
        return []
    problems = []
    try:
        space_of_definition(definition_of(sweep)["search"], pbt.mutations)
    except PopulationError as e:
        problems.append(str(sweep.problem("fixed_params 'pbt.mutations'", str(e).split(": ", 1)[1],
                                          "names of optimized_params (or hyperparam_list)")))
    if sweep.kind == HP_OPTIMIZATION:
        setting = params["optimization_setting"]
        if pbt.metric == setting["metric_to_optimize"] and pbt.minimize != setting["minimize"]:
            problems.append(str(sweep.problem(
                "fixed_params 'pbt.minimize'", f"{pbt.minimize!r} differs from"
                f" optimization_setting.minimize {setting['minimize']!r} for the same metric"
                f" {pbt.metric!r}", f"{setting['minimize']!r}")))
    return problems
