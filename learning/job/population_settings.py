"""The job's ``pbt.*`` settings checked against its other settings (the rule's own checks:
learning.plugins.population.read_pbt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learning.job import metrics as job_metrics
from learning.job.pruning import PruningOptions
from learning.job.settings import JobConfigError, JobOptions
from learning.plugins.population import PbtOptions, PopulationError, read_pbt


def read_population(settings: dict[str, Any], options: JobOptions, pruning: PruningOptions,
                    project_dir: Path | None = None) -> PbtOptions | None:
    """The PBT options (None: off); JobConfigError naming the setting and what is valid."""
    try:
        pbt = read_pbt(settings)
    except PopulationError as e:
        raise JobConfigError(str(e)) from e
    if pbt is None:
        return None
    if pruning.enabled:
        raise JobConfigError(f"setting {pruning.switched_on_by}: a sweep with population-based"
                             " training (pbt.*) stops no job; leave out pruning.* or pbt.*")
    if pbt.exploits and options.training_iterations < 2:
        raise JobConfigError("setting pbt.mutations: a job exploits others between training"
                             " iterations; set training_iterations >= 2 (each iteration ends"
                             " with a checkpoint of every run)")
    valid = job_metrics.metric_names_of_settings(settings, project_dir)
    if pbt.metric not in valid:
        raise JobConfigError(f"setting pbt.metric: {pbt.metric!r} is not a job metric; valid:"
                             f" {', '.join(valid)}")
    return pbt
