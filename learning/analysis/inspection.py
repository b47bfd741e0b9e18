"""Which settings won an optimization, how sure can I be, and how do I rerun them.

Usage: ``lttfs inspect results/<name> [options]`` (or ``python -m
learning.analysis.inspection``), where ``results/<name>`` is cluster_utils'
``results_dir/<optimization_procedure_name>`` of a finished or running hp_optimization or
grid_search.

Prints a ranked table of the best jobs and writes ``report.html`` beside the results
(figures embedded). ``lttfs confirm RESULTS --top K --seeds N`` (``inspect --confirm K
--seeds N``) reruns the top K settings with N fresh seeds each (a grid search through the
launcher: :mod:`learning.analysis.confirm_plan`, ``confirm_run``, ``confirm_verdict``);
``lttfs render RESULTS`` (``inspect --render``) writes a GIF of the best job's final policy
(see :mod:`learning.training.render`). A sweep over envs: per env (``per_env``,
``confirm_envs``, ``rendering``). Both also print the table and write the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from learning.analysis.display import display_path, printable
from learning.analysis.lineage import read_sweep_lineages, rebuild_sweep_lineage
from learning.analysis.normalization import ReferenceScoresError
from learning.analysis.per_env import read_env_axis
from learning.analysis.ranking import (
    configs_folder,
    job_notes,
    job_views,
    learning_curves,
    ranked_table,
    rerun_command,
)
from learning.analysis.results import ResultsError, Sweep, load_sweep
from learning.contract import FAILED_JOBS_FILE


def print_summary(sweep: Sweep, table: pd.DataFrame | str, out=None) -> None:
    """The header, the table (or the text of a sweep over envs), the failed jobs."""
    out = out or sys.stdout
    status = {True: "finished", False: "in progress", None: "status unknown"}[sweep.finished]
    count = f"{len(sweep.jobs)} job(s) reported"
    if sweep.number_of_samples:
        count += f" of {sweep.number_of_samples}"
    if sweep.pending:
        count += f", {len(sweep.pending)} started without metrics (running or failed)"
    if sweep.failed:
        count += f", {len(sweep.failed)} failed"
    print(f"{display_path(sweep.root)}: {sweep.run_type}, {status}; {count}", file=out)
    direction = "minimized" if sweep.minimize else "maximized"
    print(f"metric: {printable(sweep.metric)} ({direction}); 'std' and 'runs' are over each job's "
          "learning runs", file=out)
    print(file=out)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80):
        print(table if isinstance(table, str) else table.to_string(index=False), file=out)
    if sweep.failed:
        print(f"\nfailed jobs (the last line of each one's own error output; all of it in"
              f" {display_path(sweep.root / FAILED_JOBS_FILE)}):", file=out)
        for failure in sweep.failed:
            print(f"  job {failure.job_id}: {printable(failure.error)}", file=out)


PROG = "python -m learning.analysis.inspection"
GIF_HELP = ("GIF path (default RESULTS/best_policy.gif; a sweep over envs: one per env, "
            "best_policy_<env>.gif)")
#: the commands over one results folder: inspect (all options), confirm, render
DESCRIPTIONS = {
    "inspect": __doc__.split("\n\n")[0],
    "confirm": "Rerun the top K settings of an optimization (of each env, in a sweep over\n"
               "envs) with N fresh seeds each (a grid search through the sweep launcher, on\n"
               "this machine) and say whether the winner holds (per env); then the table\n"
               "and report as `inspect`, with the verdict.",
    "render": "Render an episode of the best job's final policy (each env's, in a sweep over\n"
              "envs) to a GIF (headless: EGL, else OSMesa); then the table and report as\n"
              "`inspect`, with the GIF.",
}


def make_parser(prog: str = PROG, command: str = "inspect") -> argparse.ArgumentParser:
    """The parser of ``inspect`` (all the options), ``confirm`` or ``render``: one
    namespace for all three, ``confirm``'s ``--top K`` is inspect's ``--confirm K``, its
    ``--write-only`` inspect's ``--confirm-write-only``; render's ``--output`` is
    ``--render-output``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTIONS[command],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", type=Path, help="results_dir/<optimization_procedure_name>")
    if command == "confirm":
        _confirm_arguments(parser)
    elif command == "render":
        parser.add_argument("--output", dest="render_output", type=Path, metavar="GIF",
                            help=GIF_HELP)
        parser.set_defaults(render=True, confirm=None, seeds=3, baseline=False,
                            confirm_write_only=False)
    _common_arguments(parser)
    if command == "inspect":
        _inspect_arguments(parser)
    else:
        parser.set_defaults(top=10)
    return parser


def confirm_parser(prog: str = "lttfs confirm") -> argparse.ArgumentParser:
    return make_parser(prog, "confirm")


def render_parser(prog: str = "lttfs render") -> argparse.ArgumentParser:
    return make_parser(prog, "render")


def parse_args(argv: list[str], prog: str = PROG, command: str = "inspect"
               ) -> argparse.Namespace:
    """The options of ``inspect``, ``confirm`` or ``render`` (see :func:`make_parser`), checked."""
    parser = make_parser(prog, command)
    args = parser.parse_args(argv)
    for name in ("top", "curves", "seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.confirm is not None and args.confirm < 1:
        parser.error("--top K: K must be at least 1" if command == "confirm"
                     else "--confirm K: K must be at least 1")
    if args.baseline and not args.confirm:
        parser.error("--baseline goes with --confirm K")
    return args


def _confirm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", dest="confirm", type=int, default=1, metavar="K",
                        help="rerun the top K settings (default 1: the winner; of each env "
                        "in a sweep over envs)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="learning runs (fresh seeds) per setting (default 3)")
    parser.add_argument("--baseline", action="store_true",
                        help="also rerun the shipped defaults (the optimized parameters at "
                        "their templates' values) on the same seeds and say whether the "
                        "winner beats them")
    parser.add_argument("--write-only", dest="confirm_write_only", action="store_true",
                        help="write the grid-search config for a cluster and print how to "
                        "run it, instead of running it here")
    parser.set_defaults(render=False, render_output=None)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="metric to rank by (default: the optimized one)")
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument("--minimize", dest="minimize", action="store_true", default=None,
                           help="lower is better (default: as the optimization was set)")
    direction.add_argument("--maximize", dest="minimize", action="store_false",
                           help="higher is better")
    parser.add_argument("--curves", type=int, default=3,
                        help="best jobs whose learning curves the report plots (default 3)")
    parser.add_argument("--report", type=Path,
                        help="where to write the HTML report (default RESULTS/report.html)")
    parser.add_argument("--no-report", action="store_true", help="print the table only")
    parser.add_argument("--reference-scores", type=Path, metavar="FILE.json",
                        help="a sweep over envs: normalize each env's scores against "
                        '{"ENV_ID": {"random": R, "reference": S}, ...} (0 at R, 1 at S) '
                        "instead of min-max over its jobs")


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", type=int, default=10, help="jobs in the table (default 10)")
    parser.add_argument("--confirm", type=int, metavar="K",
                        help="rerun the top K settings (of each env, in a sweep over envs) "
                        "with fresh seeds and compare")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help="learning runs (fresh seeds) per confirmed setting (default 3)")
    parser.add_argument("--baseline", action="store_true",
                        help="with --confirm: also rerun the shipped defaults (the optimized "
                        "parameters at their templates' values) on the same seeds and say "
                        "whether the winner beats them")
    parser.add_argument("--confirm-write-only", action="store_true",
                        help="with --confirm: write the grid-search config for a cluster "
                        "and print how to run it, instead of running it locally")
    parser.add_argument("--render", action="store_true",
                        help="render an episode of the best job's final policy to a GIF")
    parser.add_argument("--render-output", type=Path, help=GIF_HELP)


def print_rerun(best, notes: list[str], label: str = "the best job") -> str | None:
    """Print the command that reruns the best job; return it (None if impossible)."""
    print()
    command = rerun_command(best.job_dir) if best.job_dir else None
    if command is None:
        notes.append(f"best job {best.job_id}: no settings.json left, cannot print a rerun "
                     "command")
        return None
    print(f"rerun {label} (job {best.job_id}) from scratch, into a new folder:"
          f"\n  {command}")
    folder = configs_folder(best.job_dir)
    if folder:
        print(f"its merged configs: {display_path(folder)}")
    return command


def confirmation(args: argparse.Namespace, sweep: Sweep, views, notes: list[str], axis=None):
    """(confirmed table or None, exit code): run --confirm, or show an earlier one (a sweep
    over envs, ``axis``: each env's top settings, learning.analysis.confirm_envs)."""
    from learning.analysis.confirm_plan import ConfirmError
    from learning.analysis.confirm_run import load_confirmation, run_confirmation
    from learning.analysis.confirm_verdict import print_confirmation

    exit_code, confirmed = 0, None
    if args.confirm:
        try:
            confirmed = run_confirmation(sweep, views, args.confirm, args.seeds,
                                         write_only=args.confirm_write_only,
                                         baseline=args.baseline, axis=axis)
        except ConfirmError as e:
            print(f"error: --confirm: {e}", file=sys.stderr)
            exit_code = 1
        except OSError as e:  # a read-only results folder: the plan and config go there
            print(f"error: --confirm: cannot write {e.filename}: {e.strerror or e}; the "
                  "confirmation writes into RESULTS, which must be writable", file=sys.stderr)
            exit_code = 1
    else:
        confirmed = load_confirmation(sweep, notes)
    if confirmed is not None:
        print()
        print_confirmation(sweep, confirmed)
    return confirmed, exit_code


def main(argv: list[str] | None = None, prog: str = PROG, command: str = "inspect") -> int:
    """``inspect`` (or ``confirm``, ``render``: :func:`parse_args`) of one results folder;
    ``argv`` without the program name (default: sys.argv[1:])."""
    args = parse_args(sys.argv[1:] if argv is None else argv, prog, command)
    try:
        sweep = load_sweep(args.results, metric=args.metric, minimize=args.minimize)
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    views = job_views(sweep, len(sweep.jobs) if args.confirm else max(args.top, args.curves))
    notes = list(sweep.notes)
    try:  # a sweep over envs: tables per env and settings across envs (learning.analysis.per_env)
        axis = read_env_axis(sweep, args.top, args.reference_scores, notes)
    except ReferenceScoresError as e:
        print(f"error: --reference-scores {e}", file=sys.stderr)
        return 2
    print_summary(sweep, axis.text() if axis else ranked_table(sweep, views[: args.top]))
    notes += axis.notes if axis else job_notes(views[: args.top])
    read_sweep_lineages(sweep.root, notes)  # population-based training: skipped lineages
    rebuild_sweep_lineage(sweep.root, notes)
    for group in axis.groups if axis else []:
        group.command = print_rerun(group.views[0], notes,
                                    f"the best job on env {printable(group.env)}")
    command = None if axis else print_rerun(views[0], notes)
    confirmed, exit_code = confirmation(args, sweep, views, notes, axis)
    gif = None
    if args.render:  # a sweep over envs: each env's best job (learning.analysis.rendering)
        from learning.analysis.rendering import render

        gif, render_code = render(args, sweep, views[0], notes, axis)
        exit_code = exit_code or render_code
    curves, curve_notes = axis.curves(args.curves) if axis else learning_curves(views,
                                                                                 args.curves)
    notes += curve_notes
    if notes:
        print("\nnotes:")
        for note in notes:
            print(f"  - {note}")
    if not args.no_report:
        exit_code = write_report_or_say_why(args, sweep, views[: args.top], curves, command,
                                            confirmed, notes, gif, axis) or exit_code
    return exit_code


def write_report_or_say_why(args, sweep: Sweep, views, curves, command, confirmed, notes,
                            gif, axis=None) -> int:
    """Write report.html; if the folder is read-only (a colleague's results, say), say so
    after the table and return 1."""
    from learning.analysis.report import write_report

    path = args.report or sweep.root / "report.html"
    try:
        write_report(path, sweep, views, curves, command, confirmed, notes, gif, axis)
    except OSError as e:
        print(f"\nerror: cannot write the report {display_path(path)}: "
              f"{e.strerror or e}; the table above is complete. Write the report elsewhere"
              " with --report PATH, or skip it with --no-report.", file=sys.stderr)
        return 1
    print(f"\nreport: {display_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
