"""``lttfs sweep FILE [key=value ...]`` (``python -m learning.launch``, ``python -m
learning.sweep``; ``lttfs check FILE`` is its ``--check``): a sweep, checked before it
starts, resumable after its main process died, safe on a shared cluster.

A thin launcher over cluster_utils 3.0's own ``hp_optimization`` and ``grid_search``
(the same hp_optim files, the same ``key=value`` overrides, run in this process through
their ``main()``):

1. the file is read without evaluating anything (learning.launch.sweep_file: only
   ``{$NAME}`` is substituted), then the pre-flight (:mod:`learning.preflight.checks`,
   which ends by starting one probe job in the jobs' own interpreter); ``--check`` stops
   after it;
2. the results folder (:mod:`learning.launch.results_folder`): an existing one is refused unless
   ``--resume`` (continue it, no prompt) or ``--fresh`` (move it aside) is given; a
   resumed sweep must search what it searched before (:mod:`learning.launch.definition`,
   ``--accept-changes``); when resuming an hp_optimization, its optimizer is rebuilt from
   the sweep's data files (never unpickled), the jobs that finished after its last saved
   iteration are recovered and only the missing samples are run, with new job ids;
3. the guard (:mod:`learning.launch.guard`): if this process dies, its local workers and
   jobs are stopped;
4. the sweep's message secret (:mod:`learning.sweep_messages`), in a private file named
   in the jobs' environment;
5. cluster_utils runs with the launcher's changes (:mod:`learning.launch.cluster_utils_patches`:
   signed messages only, loopback in local mode, plain values in job scripts, failed jobs
   reported by :mod:`learning.launch.failures`), without a terminal too:
   ``no_user_interaction=True`` when stdin is not a terminal, ``run_local=True`` when no
   cluster is found and it is unset. When the first jobs all fail, the launcher stops
   the sweep with their own message.

Exit codes: 0 the sweep finished (or ``--check`` passed), 2 pre-flight problems or a
results folder that cannot be used (nothing was started), 1 cluster_utils failed, the
sweep's jobs failed, or it was interrupted (continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from learning.contract import EXIT_CONFIG, EXIT_OK
from learning.launch import definition, guard
from learning.launch.cluster_utils_patches import PatchPlan, patched_cluster_utils
from learning.launch.failures import DEFAULT_STOP_AFTER, FailureWatch, SweepFailing
from learning.launch.results_folder import (
    Progress,
    ResultsDirError,
    continue_hp_optimization,
    prepare_results_dir,
)
from learning.launch.sweep_file import (
    GRID_SEARCH,
    HP_OPTIMIZATION,
    SweepFile,
    SweepFileError,
    read_sweep_file,
)
from learning.preflight.checks import format_report, run_preflight
from learning.preflight.environment import cluster_system
from learning.sweep_messages import (
    SECRET_FILE_VARIABLE,
    MessageError,
    create_secret,
    read_secret,
)

EXIT_FAILED = 1
GUARD_LOG = "sweep_guard.log"
PROG = "python -m learning.launch"


def _file_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("settings_file", type=Path, help="an hp_optim JSON file")
    parser.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                        help="cluster_utils overrides, e.g. 'results_dir=\"/scratch/r\"'")


def check_parser(prog: str = "lttfs check") -> argparse.ArgumentParser:
    """``lttfs check``'s parser: the launcher's ``--check`` and nothing else."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Pre-flight of a cluster_utils hp_optimization or grid_search:"
                               " check everything a sweep needs, start nothing.")
    _file_arguments(parser)
    return parser


def parse_check_args(argv: list[str] | None, prog: str) -> argparse.Namespace:
    """``lttfs check``'s arguments: the launcher's ``--check`` and nothing else."""
    args = check_parser(prog).parse_intermixed_args(argv)
    args.check, args.resume, args.fresh, args.accept_changes = True, False, False, False
    return args


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The launcher's parser (``lttfs sweep``, ``python -m learning.launch``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check and run a cluster_utils hp_optimization or grid_search; resume"
                    " it after its main process died.",
    )
    _file_arguments(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="pre-flight only: check everything, start nothing")
    mode.add_argument("--resume", action="store_true",
                      help="continue an existing results folder (no prompt)")
    mode.add_argument("--fresh", action="store_true",
                      help="move an existing results folder aside and start again")
    parser.add_argument("--accept-changes", action="store_true",
                        help="with --resume: continue although the hp_optim file's search"
                             " space (optimized or fixed params, optimizer, metric) changed")
    parser.add_argument("--stop-after-failures", type=int, default=DEFAULT_STOP_AFTER,
                        metavar="N",
                        help="stop the sweep when its first N jobs fail before any finishes"
                             " (default %(default)d; 0: never)")
    parser.add_argument("--stop-grace", type=float, default=guard.DEFAULT_GRACE,
                        metavar="SECONDS",
                        help="if the main process dies: seconds the jobs get to save"
                             " before they are killed (default %(default)g)")
    return parser


def parse_args(argv: list[str] | None, prog: str = PROG) -> argparse.Namespace:
    return make_parser(prog).parse_intermixed_args(argv)


# --------------------------------------------------------------------------- cluster_utils


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


def _stop_jobs(plan: PatchPlan, grace: float, log_file: Path) -> None:
    """Stop the sweep's running jobs (they save and exit for resume): on this machine
    every process with the sweep's tag, on a cluster through cluster_utils (scancel)."""
    if plan.local:
        def log(message: str) -> None:
            with open(log_file, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher: {message}\n")

        guard.stop_tagged(_tag(), grace, log)
    else:
        for cluster in plan.cluster:
            cluster.stop_all()


def run_cluster_utils(sweep: SweepFile, extra: list[str], plan: PatchPlan,
                      grace: float) -> int:
    """cluster_utils' own main() of hp_optimization or grid_search, in this process, with
    the launcher's changes (learning.launch.cluster_utils_patches)."""
    module = importlib.import_module(sweep.module)
    saved_argv = sys.argv
    sys.argv = [sweep.module, str(sweep.path), *sweep.overrides, *extra]
    log_file = sweep.results_root / "cluster_run.log"
    try:
        with patched_cluster_utils(plan) as dropped:
            code = int(module.main() or 0)
        if dropped["count"]:
            print(f"note: {dropped['count']} datagram(s) sent to the sweep's port were not"
                  " signed by its jobs and were dropped", file=sys.stderr)
        return code
    except SystemExit as e:  # cluster_utils exits 1 after Ctrl-C
        return e.code if isinstance(e.code, int) else EXIT_FAILED
    except SweepFailing as e:
        print(f"\n{e}", file=sys.stderr, flush=True)
        _stop_jobs(plan, grace, sweep.results_root / GUARD_LOG)
        return EXIT_FAILED
    except Exception as e:
        if plan.failures is not None and plan.failures.reported:
            # "Too many jobs failed", or its crash on an empty results table
            print(f"\ncluster_utils stopped ({type(e).__name__}: {e}) after"
                  f" {len(plan.failures.reported)} job(s) failed.\n"
                  f"{plan.failures.paragraph()}", file=sys.stderr, flush=True)
            _stop_jobs(plan, grace, sweep.results_root / GUARD_LOG)
            return EXIT_FAILED
        traceback.print_exc()
        print(f"cluster_utils failed; details in {log_file}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        sys.argv = saved_argv


# --------------------------------------------------------------------------- the launch


def _resume_progress(sweep: SweepFile, distributions: list) -> Progress:
    progress = continue_hp_optimization(sweep, distributions)
    total = sweep.number_of_samples or 0
    print(f"resuming {sweep.results_root}: {progress.done} of {total} samples done"
          f" ({progress.recorded} recorded in all_data.csv, {len(progress.recovered)}"
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


def _stop_after(sweep: SweepFile, wanted: int) -> int:
    """Failures before any finished job that stop the sweep: ``--stop-after-failures``, at
    most one iteration of an hp_optimization (cluster_utils crashes on an iteration whose
    jobs all failed)."""
    if wanted > 0 and sweep.kind == HP_OPTIMIZATION:
        return min(wanted, int(sweep.params["optimization_setting"]["n_jobs_per_iteration"]))
    return max(wanted, 0)


@contextmanager
def sweep_secret(name: str) -> Iterator[bytes]:
    """The sweep's message secret (learning.sweep_messages), in a private file named in
    this process's environment for its jobs; removed when the sweep ends."""
    path = create_secret(name)
    previous = os.environ.get(SECRET_FILE_VARIABLE)
    os.environ[SECRET_FILE_VARIABLE] = str(path)
    try:
        yield read_secret(path)
    finally:
        if previous is None:
            os.environ.pop(SECRET_FILE_VARIABLE, None)
        else:
            os.environ[SECRET_FILE_VARIABLE] = previous
        path.unlink(missing_ok=True)


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
        remaining, first_job_id, optimizer = None, 0, None
        if args.resume and existed:
            refused, note = definition.resume_problem(sweep, args.accept_changes)
            if refused:
                raise ResultsDirError(refused)
            if note:
                print(f"note: {note}")
        else:
            definition.save_definition(sweep)
        if args.resume and not existed:
            print(f"nothing to resume in {root}: starting the sweep")
        elif args.resume and sweep.kind == HP_OPTIMIZATION:
            progress = _resume_progress(sweep, distributions)
            remaining = max((sweep.number_of_samples or 0) - progress.done, 0)
            first_job_id, optimizer = progress.first_job_id, progress.optimizer
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
    continue_command = shlex.join(["python", "-m", "learning.sweep", str(sweep.path),
                                   *sweep.overrides, "--resume"])
    try:
        with sweep_secret(_tag()) as secret:
            plan = PatchPlan(
                params=read_sweep_file(sweep.path, [*sweep.overrides, *extra]).params,
                local=cluster_system(sweep) == "local", secret=secret,
                first_job_id=first_job_id, optimizer=optimizer,
                failures=FailureWatch(root, _stop_after(sweep, args.stop_after_failures),
                                      continue_command))
            code = run_cluster_utils(sweep, extra, plan, args.stop_grace)
    except (MessageError, OSError) as e:
        print(f"sweep error: {e}; nothing was started", file=sys.stderr)
        return EXIT_FAILED
    if code == EXIT_OK:
        print(f"sweep finished: {root}\ninspect it: python -m learning.analysis.inspection {root}")
    else:
        print(f"sweep stopped (exit code {code}); continue it with: {continue_command}",
              file=sys.stderr)
    return code


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Check and run the sweep in this process; ``argv`` without the program name (default:
    sys.argv[1:]). A process's entry is :func:`cli`."""
    return check_and_launch(parse_args(argv, prog))


def check_main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """``lttfs check FILE [KEY=VALUE ...]``: the pre-flight only (``--check``)."""
    return check_and_launch(parse_check_args(argv, prog))


def check_and_launch(args: argparse.Namespace) -> int:
    """The pre-flight, then (unless ``--check``) the launch."""
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
    if args.accept_changes and not args.resume:
        print("sweep error: --accept-changes goes with --resume", file=sys.stderr)
        return EXIT_CONFIG
    return launch(sweep, args, result.distributions)


def cli(argv: list[str] | None = None, prog: str = PROG) -> int:
    """A process's entry (``lttfs sweep``, ``python -m learning.launch``, ``python -m
    learning.sweep``); ``argv`` without the program name (default: sys.argv[1:]).

    Checks the arguments (``--help`` and usage errors under the name the user typed), then
    re-executes this interpreter once as ``python -m learning.launch ARGV`` with a fresh
    sweep tag in its environment (see learning.launch.guard), whatever started it, and
    runs main() there. (``-m`` imports from the current folder first: run from the
    repository, as sweeps are, that is the checkout's package, which the jobs run too.)"""
    argv = sys.argv[1:] if argv is None else list(argv)
    parse_args(argv, prog)
    env = guard.fresh_tag_environment()
    if env is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "learning.launch", *argv], env)
    return main(argv, prog)
