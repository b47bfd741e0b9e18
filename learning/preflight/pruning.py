"""Pre-flight checks of early stopping and of the optimizer (learning.preflight.checks).

- ``kill_bad_jobs_early``: cluster_utils 3.0's rule cannot stop this project's jobs (in
  local mode its ``stop_fn`` only cancels jobs that have not started and then waits for
  every running job to end; on Slurm the ``scancel``-ed job saves, exits for resume and
  is submitted again), so it is refused in favour of the job's own pruning rule, the
  settings ``pruning.*`` (learning.job.pruning; docs/pruning.md).
- ``pruning.metric`` / ``pruning.minimize`` must be what the optimization optimizes,
  else the jobs would stop on another metric than the one cluster_utils ranks. The
  rule's own options are checked through the rule, with the job's own code, among the
  job settings (learning.preflight.checks.ConfigChecks).
- ``optimizer_str: "nevergrad"``: nevergrad must be importable (cluster-utils'
  ``nevergrad`` extra) and ``optimizer_settings.opt_alg`` one of the algorithms
  cluster_utils 3.0 maps; such a sweep cannot be resumed from its status.pickle
  (cluster_utils 3.0 rebuilds the optimizer with nevergrad 0.x's ``instrumentation=``
  argument, a TypeError with nevergrad 1.x), so ``--resume`` is refused before anything
  starts.
"""

from __future__ import annotations

import os

from learning.contract import JOB_SCRIPTS
from learning.launch.sweep_file import HP_OPTIMIZATION, SweepFile, job_settings


def pruning_problems(sweep: SweepFile) -> list[str]:
    params = sweep.params
    if os.path.basename(str(params["script_relative_path"])) not in JOB_SCRIPTS:
        return []
    problems = []
    if params.get("kill_bad_jobs_early"):
        problems.append(str(sweep.problem(
            "kill_bad_jobs_early", "cluster_utils' rule cannot stop this project's jobs (local"
            " mode: it waits for all running jobs instead; Slurm: the cancelled job exits for"
            " resume and is submitted again)", "false; stop bad jobs with the job's pruning"
            ' rule, e.g. "pruning.keep_fraction" in fixed_params (docs/pruning.md)')))
    if sweep.kind != HP_OPTIMIZATION:
        return problems
    from learning.job.pruning import read_pruning
    from learning.job.settings import JobConfigError

    try:
        pruning = read_pruning(job_settings({}, sweep.fixed()), training_iterations=2,
                               project_dir=sweep.main_path)
    except (ValueError, TypeError, JobConfigError):
        return problems  # the checks of the fixed params' names and of the job settings say
    if not pruning.enabled:
        return problems
    setting = params["optimization_setting"]
    for key, value, optimized in (("metric", pruning.metric, setting["metric_to_optimize"]),
                                  ("minimize", pruning.minimize, setting["minimize"])):
        if value != optimized:
            problems.append(str(sweep.problem(
                f"fixed_params 'pruning.{key}'", f"{value!r} differs from optimization_setting."
                f"{'metric_to_optimize' if key == 'metric' else key} {optimized!r}",
                f"{optimized!r}: the jobs must stop on the metric the optimization ranks")))
    return problems


def optimizer_problems(sweep: SweepFile) -> list[str]:
    params = sweep.params
    if sweep.kind != HP_OPTIMIZATION or params["optimizer_str"] != "nevergrad":
        return []
    try:
        from cluster_utils.server.optimizers import NGOptimizer

        algorithms = NGOptimizer.get_optimizer_dict()
    except ImportError as e:
        return [str(sweep.problem("optimizer_str", f"'nevergrad' needs the nevergrad package"
                                  f" ({e})", "install it: pip install"
                                  " 'cluster-utils[nevergrad]==3.0.0' (make setup does)"))]
    opt_alg = (params["optimizer_settings"] or {}).get("opt_alg")
    if opt_alg not in algorithms:
        return [str(sweep.problem("optimizer_settings.opt_alg", f"{opt_alg!r}",
                                  ", ".join(sorted(algorithms))))]
    return []
