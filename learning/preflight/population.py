"""Pre-flight checks of population-based training (``pbt.*``, learning.plugins.population)
beyond the job's own (learning.job.population_settings, run with every sample by
learning.preflight.checks.ConfigChecks): every mutated parameter is one the sweep
searches (its bounds or options are where it may go), and the jobs compare the metric the
optimization ranks."""

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
        for key, value, optimized in (("metric", pbt.metric, setting["metric_to_optimize"]),
                                      ("minimize", pbt.minimize, setting["minimize"])):
            if value != optimized:
                problems.append(str(sweep.problem(
                    f"fixed_params 'pbt.{key}'", f"{value!r} differs from optimization_setting."
                    f"{'metric_to_optimize' if key == 'metric' else key} {optimized!r}",
                    f"{optimized!r}: the jobs must exploit on the metric the optimization"
                    " ranks")))
    return problems
