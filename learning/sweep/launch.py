"""``python -m learning.sweep FILE [key=value ...]`` (``lttfs-sweep``): a sweep, checked
before it starts, resumable after its main process died.

A thin launcher over cluster_utils 3.0's own ``hp_optimization`` and ``grid_search``
(the same hp_optim files, the same ``key=value`` overrides, run in this process through
their ``main()``):

1. pre-flight (:mod:`learning.sweep.preflight`); ``--check`` stops after it;
2. the results folder (:mod:`learning.sweep.resume`): an existing one is refused unless
   ``--resume`` (continue it, no prompt) or ``--fresh`` (move it aside) is given; when
   resuming an hp_optimization, the jobs that finished after its last saved iteration are
   recovered and only the missing samples are run, with new job ids;
3. the guard (:mod:`learning.sweep.guard`): if this process dies, its local workers and
   jobs are stopped;
4. cluster_utils runs, without a terminal too: ``no_user_interaction=True`` when stdin is
   not a terminal, ``run_local=True`` when no cluster is found and it is unset.

Exit codes: 0 the sweep finished (or ``--check`` passed), 2 pre-flight problems or a
results folder that cannot be used (nothing was started), 1 cluster_utils failed or was
interrupted (continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from learning.contract import EXIT_CONFIG, EXIT_OK
from learning.sweep import guard
from learning.sweep.preflight import format_report, run_preflight
from learning.sweep.preflight_env import cluster_system
from learning.sweep.resume import (
    Progress,
    ResultsDirError,
    continue_hp_optimization,
    prepare_results_dir,
)
from learning.sweep.sweep_file import (
    GRID_SEARCH,
    HP_OPTIMIZATION,
    SweepFile,
    SweepFileError,
    read_sweep_file,
)

EXIT_FAILED = 1
GUARD_LOG = "sweep_guard.log"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m learning.sweep",
        description="Check and run a cluster_utils hp_optimization or grid_search; resume"
                    " it after its main process died.",
    )
    parser.add_argument("settings_file", type=Path, help="an hp_optim JSON file")
    parser.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                        help="cluster_utils overrides, e.g. 'results_dir=\"/scratch/r\"'")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="pre-flight only: check everything, start nothing")
    mode.add_argument("--resume", action="store_true",
                      help="continue an existing results folder (no prompt)")
    mode.add_argument("--fresh", action="store_true",
                      help="move an existing results folder aside and start again")
    parser.add_argument("--stop-grace", type=float, default=guard.DEFAULT_GRACE,
                        metavar="SECONDS",
                        help="if the main process dies: seconds the jobs get to save"
                             " before they are killed (default %(default)g)")
    return parser.parse_intermixed_args(argv)


# --------------------------------------------------------------------------- cluster_utils


@contextmanager
def cluster_utils_patches(first_job_id: int) -> Iterator[None]:
    """The two changes to cluster_utils 3.0.0 (pinned in setup.cfg) while it runs here.

    - ``job_manager.ensure_empty_dir``: it asks "Delete everything? (y/N)" with input()
      for an existing results folder; the launcher has decided already (refused,
      ``--fresh`` or ``--resume``), so the folder is kept, without a prompt.
    - ``job_manager.get_cluster_type`` returns the cluster class; when resuming, the
      launcher's subclass starts the job ids at ``first_job_id`` (it sets the private
      counter ``ClusterSubmission._inc_job_id``), so new jobs do not reuse the ids (and
      folders) of recorded ones.
    """
    from cluster_utils.server import job_manager

    original_empty_dir, original_cluster_type = (job_manager.ensure_empty_dir,
                                                 job_manager.get_cluster_type)

    def keep_existing_dir(dir_name: str, defensive: bool = False) -> None:
        os.makedirs(dir_name, exist_ok=True)

    def cluster_type(requirements, run_local=None):
        base = original_cluster_type(requirements, run_local)

        class Continued(base):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self._inc_job_id = first_job_id - 1

        Continued.__name__ = base.__name__
        return Continued

    job_manager.ensure_empty_dir = keep_existing_dir
    if first_job_id:
        job_manager.get_cluster_type = cluster_type
    try:
        yield
    finally:
        job_manager.ensure_empty_dir = original_empty_dir
        job_manager.get_cluster_type = original_cluster_type


def launch_overrides(sweep: SweepFile, remaining: int | None) -> list[str]:
    """Settings added after the user's: what cluster_utils needs to run without a terminal,
    and the samples still to run."""
    extra = []
    terminal = sys.stdin is not None and sys.stdin.isatty()
    if not terminal and not sweep.params.get("no_user_interaction"):
        extra.append("no_user_interaction=True")
    if sweep.run_local is None and cluster_system(sweep) == "local":
        extra.append("local_run=True" if sweep.kind == GRID_SEARCH
                     else "optimization_setting.run_local=True")
    if remaining is not None:
        extra.append(f"optimization_setting.number_of_samples={remaining}")
    return extra


def run_cluster_utils(sweep: SweepFile, extra: list[str], first_job_id: int) -> int:
    """cluster_utils' own main() of hp_optimization or grid_search, in this process."""
    module = importlib.import_module(sweep.module)
    saved_argv = sys.argv
    sys.argv = [sweep.module, str(sweep.path), *sweep.overrides, *extra]
    try:
        with cluster_utils_patches(first_job_id):
            return int(module.main() or 0)
    except SystemExit as e:  # cluster_utils exits 1 after Ctrl-C
        return e.code if isinstance(e.code, int) else EXIT_FAILED
    except Exception:
        traceback.print_exc()
        print(f"cluster_utils failed; details in {sweep.results_root / 'cluster_run.log'}",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.argv = saved_argv


# --------------------------------------------------------------------------- the launch


def _resume_progress(sweep: SweepFile, distributions: list) -> Progress:
    progress = continue_hp_optimization(sweep, distributions)
    total = sweep.number_of_samples or 0
    print(f"resuming {sweep.results_root}: {progress.done} of {total} samples done"
          f" ({progress.recorded} recorded in status.pickle, {len(progress.recovered)}"
          f" recovered from their working folders, {progress.failed} failed); running"
          f" {max(total - progress.done, 0)} more, job ids from {progress.first_job_id}")
    for note in progress.notes:
        print(f"  note: {note}")
    return progress


def _tag() -> str:
    """This process's sweep tag (set by :func:`cli`'s re-exec); set here when main() is
    called in-process, which tags the job processes but not cluster_utils' forked workers."""
    tag = guard.own_tag()
    if tag is None:
        env = guard.fresh_tag_environment()
        assert env is not None
        os.environ.update({k: env[k] for k in (guard.TAG_VARIABLE, guard.TAG_OWNER_VARIABLE)})
        tag = env[guard.TAG_VARIABLE]
    return tag


def _cache_dir() -> None:
    """cluster_utils 3.0 makes its cache folder with os.mkdir: ~/.cache must exist."""
    folder = os.environ.get("CLUSTER_UTILS_CACHE_DIR") or os.path.join(
        Path.home(), ".cache", "cluster_utils")
    os.makedirs(folder, exist_ok=True)


def launch(sweep: SweepFile, args: argparse.Namespace, distributions: list) -> int:
    mode = "resume" if args.resume else "fresh" if args.fresh else None
    root = sweep.results_root
    existed = root.exists()
    try:
        lock, moved = prepare_results_dir(root, mode, wait=args.stop_grace + 30)
        if moved is not None:
            print(f"moved the earlier results to {moved}")
        remaining, first_job_id = None, 0
        if args.resume and not existed:
            print(f"nothing to resume in {root}: starting the sweep")
        elif args.resume and sweep.kind == HP_OPTIMIZATION:
            progress = _resume_progress(sweep, distributions)
            remaining = max((sweep.number_of_samples or 0) - progress.done, 0)
            first_job_id = progress.first_job_id
        elif args.resume:
            print(f"resuming {root}: every job gets its id and settings again and continues"
                  " from its restart state (finished ones report their metrics again)")
    except ResultsDirError as e:
        print(f"sweep error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    _cache_dir()
    try:
        guard.start_guard(_tag(), args.stop_grace, root / GUARD_LOG, lock.fd)
    except (OSError, RuntimeError) as e:
        print(f"sweep error: {e}; nothing was started", file=sys.stderr)
        return EXIT_FAILED
    extra = launch_overrides(sweep, remaining)
    print(f"starting {sweep.module} {sweep.path} {' '.join(sweep.overrides + extra)}",
          flush=True)
    code = run_cluster_utils(sweep, extra, first_job_id)
    if code == EXIT_OK:
        print(f"sweep finished: {root}\ninspect it: python -m learning.sweep.inspection {root}")
    else:
        print(f"sweep stopped (exit code {code}); continue it with: python -m learning.sweep"
              f" {sweep.path} {' '.join(sweep.overrides)} --resume", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sweep = read_sweep_file(args.settings_file, args.settings)
    except SweepFileError as e:
        print(f"sweep error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    result = run_preflight(sweep)
    print(format_report(sweep, result), flush=True)
    if result.problems:
        return EXIT_CONFIG
    if args.check:
        return EXIT_OK
    return launch(sweep, args, result.distributions)


def cli() -> None:
    """Console entry (``lttfs-sweep``, ``python -m learning.sweep``): re-execute once with a
    fresh sweep tag in the environment (see learning.sweep.guard), then run main()."""
    env = guard.fresh_tag_environment()
    if env is not None:
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, "-m", "learning.sweep", *sys.argv[1:]], env)
    sys.exit(main())
