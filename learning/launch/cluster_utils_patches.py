"""What the launcher changes in cluster_utils 3.0.0 (pinned in setup.cfg) while it runs it.

All changes are made by :func:`patched_cluster_utils` for the duration of one run of
cluster_utils' own ``main()`` in this process, and undone after it:

- **the settings it reads**: ``read_main_script_params_from_args`` returns the settings
  the launcher read and checked (learning.launch.sweep_file: no ``{...}`` evaluated)
  instead of reading the file again with smart_settings' dynamic evaluation;
- **an existing results folder** (``job_manager.ensure_empty_dir``): kept without the
  "Delete everything? (y/N)" prompt; the launcher has decided already (refused,
  ``--fresh`` or ``--resume``);
- **the optimizer** (``job_manager.initialize_hp_optimizer``): when resuming, the one the
  launcher rebuilt from the sweep's own files, so that ``status.pickle`` is never
  unpickled (learning.launch.optimizer_rebuild);
- **the cluster class** (``job_manager.get_cluster_type``): a subclass that starts job
  ids at ``first_job_id`` when resuming, counts a local job that exited with any code
  other than 0 or 3 as failed (cluster_utils counts only 1, and waits forever for a job
  that exited 2 or was killed), and reports failed jobs through
  :class:`learning.launch.failures.FailureWatch` (one line per job with its own error
  output; the sweep stops when its first jobs all fail);
- **the job's settings as written into its script** (``Job.generate_final_setting``):
  plain Python values, never numpy scalars, whose numpy 2 reprs (``np.int64(8)``) jobs
  of other projects cannot read;
- **Discrete samples** (``Discrete.prepare_samples``): drawn by index, so every option
  keeps its own type (numpy's ``choice`` over ``[0.1, "auto"]`` makes both strings);
- **the server** (``CommunicationServer``): in local mode it listens on the loopback
  address only; it accepts only messages signed with the sweep's secret, parsed as JSON,
  never unpickled (learning.sweep_messages); others are dropped and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from learning.numpy_scalars import without_numpy_scalars
from learning.sweep_messages import MessageError, read_message

LOOPBACK = "127.0.0.1"
#: exit codes of a local job script that are not a failure: finished, exit for resume
NOT_FAILED_EXIT_CODES = (0, 3)


@dataclass
class PatchPlan:
    """What the launcher hands cluster_utils for one run."""

    params: Any  #: the settings as the launcher read them (smart_settings AttributeDict)
    local: bool  #: cluster_utils' local mode (the server then listens on loopback)
    secret: bytes  #: the sweep's message secret (learning.sweep_messages)
    first_job_id: int = 0
    optimizer: Any = None  #: the rebuilt optimizer when resuming an hp_optimization
    failures: Any = None  #: a learning.launch.failures.FailureWatch
    #: the cluster class instance cluster_utils made (set once it exists)
    cluster: list = field(default_factory=list)


def _replace(stack: ExitStack, owner: Any, name: str, value: Any) -> None:
    original = getattr(owner, name)
    setattr(owner, name, value)
    stack.callback(setattr, owner, name, original)


def _cluster_type(plan: PatchPlan, original_get_cluster_type):
    from cluster_utils.server.job import JobStatus

    ENDED = (JobStatus.CONCLUDED, JobStatus.FAILED)  # noqa: N806 (a constant)
    def get_cluster_type(requirements, run_local=None):
        base = original_get_cluster_type(requirements, run_local)

        class Watched(base):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self._inc_job_id = plan.first_job_id - 1  # private counter of job ids
                plan.cluster.append(self)

            def check_for_failed_jobs(self) -> None:
                if not plan.local:
                    super().check_for_failed_jobs()
                    return
                # every job not yet ended, also a running one whose process was killed
                self.mark_failed_jobs([job for job in self.submitted_jobs
                                       if job.status not in ENDED])
                self._check_error_msgs()

            def mark_failed_jobs(self, jobs) -> None:
                super().mark_failed_jobs(jobs)  # local: exit code 1
                for job in jobs if plan.local else ():
                    future = job.futures_object
                    if (future is not None and future.done() and not future.cancelled()
                            and job.status not in ENDED and future.exception() is None
                            and future.result().returncode not in NOT_FAILED_EXIT_CODES):
                        job.mark_failed(f"exit code {future.result().returncode}")

            def _check_error_msgs(self) -> None:
                if plan.failures is None:
                    super()._check_error_msgs()
                    return
                plan.failures.check(self)

        Watched.__name__ = base.__name__
        return Watched

    return get_cluster_type


def _signed_handler(secret: bytes):
    dropped = {"count": 0}

    def handle_message(self, data: bytes) -> None:
        logger = logging.getLogger("cluster_utils")
        try:
            kind, message = read_message(secret, data)
        except MessageError as e:
            dropped["count"] += 1
            if dropped["count"] == 1:
                logger.warning("dropped a datagram that is not a signed message of this sweep"
                               " (%s); further ones are counted, not logged", e)
            return
        from cluster_utils.base.communication import MessageTypes

        self.handlers[MessageTypes(kind)](message)

    return handle_message, dropped


def _keep_existing_dir(dir_name: str, defensive: bool = False) -> None:
    import os

    os.makedirs(dir_name, exist_ok=True)


def _prepare_samples_by_index(self, howmany: int) -> None:
    """cluster_utils' Discrete.prepare_samples, drawing option indices (types kept)."""
    import numpy as np
    from cluster_utils.server.distributions import Distribution

    howmany = min(10, howmany)  # as cluster_utils: "for smart rounding"
    picks = np.random.choice(len(self.option_list), p=self.probs, size=howmany)
    self.samples = [self.option_list[int(i)] for i in picks]
    Distribution.prepare_samples(self, howmany)


@contextmanager
def patched_cluster_utils(plan: PatchPlan) -> Iterator[dict]:
    """cluster_utils changed as the module docstring says; yields counters (``dropped``:
    datagrams refused by the server)."""
    import cluster_utils.grid_search
    import cluster_utils.hp_optimization
    from cluster_utils.server import job_manager
    from cluster_utils.server.communication_server import CommunicationServer
    from cluster_utils.server.distributions import Discrete
    from cluster_utils.server.job import Job

    def read_params(args):
        return plan.params

    original_final_setting = Job.generate_final_setting

    def generate_final_setting(self, paths):
        return without_numpy_scalars(original_final_setting(self, paths))

    original_initialize = job_manager.initialize_hp_optimizer

    def initialize_hp_optimizer(*args, **kwargs):
        return plan.optimizer if plan.optimizer is not None else original_initialize(
            *args, **kwargs)

    handle_message, dropped = _signed_handler(plan.secret)
    with ExitStack() as stack:
        for module in (cluster_utils.hp_optimization, cluster_utils.grid_search):
            _replace(stack, module, "read_main_script_params_from_args", read_params)
        _replace(stack, job_manager, "ensure_empty_dir", _keep_existing_dir)
        _replace(stack, job_manager, "initialize_hp_optimizer", initialize_hp_optimizer)
        _replace(stack, job_manager, "get_cluster_type",
                 _cluster_type(plan, job_manager.get_cluster_type))
        _replace(stack, Job, "generate_final_setting", generate_final_setting)
        _replace(stack, Discrete, "prepare_samples", _prepare_samples_by_index)
        _replace(stack, CommunicationServer, "handle_message", handle_message)
        if plan.local:
            _replace(stack, CommunicationServer, "get_own_ip", lambda self: LOOPBACK)
        yield dropped
