"""Population-based training against the same sweep without it: the winner's confirmed
reward on fresh seeds, and the population's best metric against learner CPU time.

Two arms per seed, side by side in one run: the same sweep (same optimizer, same optimizer
seed, so random search draws the same first settings; same number of jobs, runs,
training iterations and timesteps, so the same learner CPU) with and without ``pbt.*``
(learning.plugins.population). Every arm is a real local sweep started like a user starts
one (the launcher, ``python -m learning.sweep``: pre-flight, sweep_definition.json,
cluster_utils, run_learning.py jobs), ``--per-iteration`` jobs per optimizer iteration,
as many at a time as the machine's cores allow. ``--seeds`` repetitions (numpy's global
seed in the sweep's main process, which cluster_utils' CEM and nevergrad draw from).

Readings, mean over seeds (+- standard error), PBT beside no PBT, their ratio (not for the
stand-in's reward, which may be near or below zero) and their difference paired by seed:

- **confirmed winner**: the sweep's best job rerun on ``--confirm-seeds`` fresh seeds by
  the suite's confirmation (``python -m learning.analysis.inspection RESULTS --confirm 1``,
  the CLI a user runs); for a PBT winner the confirmation replays its schedule of
  settings (``pbt.schedule``), so both winners are confirmed at equal CPU (the
  confirmation's learner CPU is printed);
- **best metric against learner CPU**: from the jobs' intermediate records
  (``intermediate_results/job_<id>.json``: learner_cpu_seconds, final metrics), the best
  final metric of the sweep so far against the learner CPU all its jobs spent so far, as
  a share of the sweep's total (the same in both arms); read at 25, 50 and 75%, and the
  share the PBT arm needed to reach the no-PBT arm's final best (the mean curves over
  seeds, benchmarks/search_curves.py; written to WORK/pbt_curves.json).

Default: the stand-in learner (benchmarks/learning_standin.py, through the job's
LTTFS_LEARNER_MODULE hook; it burns ``--standin-cpu`` CPU seconds per 1000 timesteps):
this shows the mechanics in minutes. PBT mutates its learning rate and gamma; its robot x
cannot mutate (a scene setting, frozen). The stand-in's learned level is carried in its
model zip (benchmarks/learning_standin.py), so an exploit takes over what the donor has
learned, and a run whose settings change keeps what it learned before; the confirmation
replays the winner's schedule from scratch, which on the stand-in too scores the schedule
as trained, not only its last settings.
``--real``: one seed on the real aiming task (hp_optim/ppo_pbt.json, without its ``pbt.*``
for the other arm) with the budget given on the command line.

Usage: python benchmarks/pbt.py [--seeds 3] [--samples 16] [--quick] [--real ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import learning_standin as standin  # noqa: E402
from benchmarks.search_curves import compare, mean_curve, value_at  # noqa: E402
from benchmarks.search_efficiency import OPTIMIZERS, mean_se  # noqa: E402

OUTPUT = REPO / "benchmarks" / "output"
REAL_FILE = REPO / "hp_optim" / "ppo_pbt.json"
STANDIN_METRIC = "mean_eval_reward"
STANDIN_MUTATIONS = ["config.rl_config.learning_rate", "config.rl_config.gamma"]
FRACTIONS = (0.25, 0.5, 0.75)  #: of a sweep's learner CPU, for its best metric so far
ARMS = ("no PBT", "PBT")


def standin_config(args, pbt: bool) -> dict:
    fixed = {"config.config_templates": "hp_optim/config_templates_ppo.json",
             "config.rl_config.num_timesteps": args.timesteps,
             "config.rl_common_config.evaluation_episodes": args.episodes,
             "intermediate_evaluation_episodes": args.intermediate_episodes,
             "learning_runs_per_job": args.runs, "training_iterations": args.iterations,
             "max_attempts": 2, "local_cpu_pinning": True}
    if pbt:
        fixed.update({"pbt.mutations": STANDIN_MUTATIONS, "pbt.metric": STANDIN_METRIC,
                      "pbt.minimize": False, "pbt.quantile_fraction": args.quantile_fraction,
                      "pbt.min_jobs": args.min_jobs})
    return {
        "script_relative_path": "run_learning.py", "run_in_working_dir": True,
        "no_user_interaction": True, "generate_report": "never",
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": fixed,
        "optimization_setting": {"metric_to_optimize": STANDIN_METRIC, "minimize": False},
        "optimized_params": [
            {"param": name, "bounds": list(bounds),
             "distribution": "TruncatedLogNormal" if "learning_rate" in name
             else "TruncatedNormal"} for name, bounds in standin.BOUNDS.items()],
    }


def real_config(args, pbt: bool) -> dict:
    """hp_optim/ppo_pbt.json with the command line's budget; without pbt.* for no PBT."""
    config = json.loads(REAL_FILE.read_text())
    fixed = config["fixed_params"]
    if not pbt:
        for key in [key for key in fixed if key.startswith("pbt.")]:
            del fixed[key]
    fixed.update({"config.rl_config.num_timesteps": args.timesteps,
                  "config.rl_common_config.evaluation_episodes": args.episodes,
                  "intermediate_evaluation_episodes": args.intermediate_episodes,
                  "learning_runs_per_job": args.runs, "training_iterations": args.iterations})
    if pbt:
        fixed.update({"pbt.quantile_fraction": args.quantile_fraction,
                      "pbt.min_jobs": args.min_jobs})
    config["cluster_requirements"]["request_cpus"] = args.runs  # one CPU per run
    return config


def arm_config(name: str, args, pbt: bool, results: Path) -> dict:
    """One arm's sweep file: the task's settings, then what both arms share."""
    config = real_config(args, pbt) if args.real else standin_config(args, pbt)
    optimizer_str, optimizer_settings = OPTIMIZERS[args.optimizer]
    config.update({"optimization_procedure_name": name, "results_dir": str(results),
                   "environment_setup": {"virtual_env_path": sys.prefix},
                   "optimizer_str": optimizer_str, "optimizer_settings": optimizer_settings,
                   # PBT copies other jobs' checkpoints, the confirmation reads settings.json
                   "remove_jobs_dir": True, "remove_working_dirs": False,
                   "num_best_jobs_whose_data_is_kept": 1})
    config["optimization_setting"].update({
        "number_of_samples": args.samples, "n_jobs_per_iteration": args.per_iteration,
        "n_completed_jobs_before_resubmit": 1, "run_local": True})
    return config


def environment(args, work: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), CLUSTER_UTILS_CACHE_DIR=str(work / "cache"))
    if args.real:
        env.pop("LTTFS_LEARNER_MODULE", None)  # the real learner, whatever the shell set
    else:
        env["LTTFS_LEARNER_MODULE"] = "benchmarks.learning_standin"
        env["LTTFS_STANDIN_SECONDS_PER_1K_STEPS"] = str(args.standin_cpu)
    return env


def one_sweep(config_file: Path, seed: int) -> int:
    """In the sweep's own process: seed the optimizers' random numbers, run the launcher."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    from learning.launch.launcher import main

    return main([str(config_file), "--fresh"])


def run_logged(command: list[str], log: Path, env: dict) -> int:
    with open(log, "w") as out:
        return subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode


def run_arm(config: dict, seed: int, args, work: Path) -> dict:
    """Run one arm's sweep and its confirmation; its readings."""
    name = config["optimization_procedure_name"]
    config_file = work / f"{name}.json"
    config_file.write_text(json.dumps(config, indent=1))
    env = environment(args, work)
    started = time.time()
    code = run_logged([sys.executable, __file__, "--one-sweep", str(config_file),
                       "--seed", str(seed)], work / f"{name}.log", env)
    if code != 0:
        raise SystemExit(f"sweep {name} failed (exit code {code}); see {work / f'{name}.log'}")
    root = Path(config["results_dir"]) / name
    result = summarize(root, config["optimization_setting"]["metric_to_optimize"])
    result["wall"] = time.time() - started
    started = time.time()
    result.update(confirm(root, args, env, work / f"{name}.confirm.log"))
    result["confirm_wall"] = time.time() - started
    return result


def summarize(root: Path, metric: str) -> dict:
    """Jobs, learner CPU, best metric, the best-so-far curve and the exploits of a sweep."""
    import pandas as pd

    from learning.records.intermediate import sweep_records
    from learning.records.lineage import sweep_lineages

    jobs = pd.read_csv(root / "all_data.csv")
    records = [record for _, record in sweep_records(root) if record is not None]
    lineages = sweep_lineages(root).values()
    return {"jobs": len(jobs), "recorded": sum(r.final is not None for r in records),
            "learner_cpu": sum(r.final.learner_cpu_seconds or 0 for r in records if r.final),
            "best_metric": float(jobs[metric].max()), "curve": cpu_curve(records, metric),
            "exploits": sum(len(lineage.exploits) for lineage in lineages),
            "skipped": sum(len(lineage.skipped) for lineage in lineages)}


def cpu_curve(records: list, metric: str) -> list[tuple[float, float, int]]:
    """(learner CPU of all jobs so far, best final metric so far, jobs finished) at every
    job's end, in the order of the records' times (search_curves' curve format)."""
    events = []  # (time, job, learner CPU so far, final metric or None)
    for record in records:
        for entry in record.iterations:
            events.append((entry.time or 0, record.job_id, entry.learner_cpu_seconds, None))
        if record.final is not None:
            events.append((record.final.time or 0, record.job_id,
                           record.final.learner_cpu_seconds, record.final.metrics.get(metric)))
    spent: dict = {}
    curve, best, done = [], None, 0
    for _, job, cpu, final in sorted(events, key=lambda e: e[0]):
        spent[job] = max(spent.get(job, 0.0), cpu or 0.0)
        if final is None:
            continue
        done += 1
        best = final if best is None else max(best, final)
        curve.append((sum(spent.values()), best, done))
    return curve


def confirm(root: Path, args, env: dict, log: Path) -> dict:
    """The suite's confirmation of the sweep's best job (its CLI), read back: the winner's
    mean on fresh seeds, the confirmation's learner CPU, whether it replayed a schedule."""
    from learning.analysis.confirm_plan import CONFIG_FILE, CONFIRM_DIR
    from learning.analysis.confirm_run import load_confirmation
    from learning.analysis.results import load_sweep
    from learning.records.intermediate import sweep_records

    code = run_logged([sys.executable, "-m", "learning.analysis.inspection", str(root),
                       "--confirm", "1", "--seeds", str(args.confirm_seeds), "--no-report"],
                      log, env)
    grid = root / CONFIG_FILE
    replayed = grid.is_file() and "pbt.schedule" in grid.read_text()
    failed = {"confirmed": None, "confirmed_values": [], "confirm_cpu": None,
              "replayed": replayed}
    if code != 0:
        lines = [line for line in log.read_text().splitlines() if "error" in line.lower()]
        print(f"  confirmation of {root.name} failed (exit code {code}): "
              f"{lines[-1] if lines else 'see ' + str(log)}", flush=True)
        return failed
    table = load_confirmation(load_sweep(root), [])
    if table is None or table.empty or table["confirmed_mean"].isna().all():
        print(f"  confirmation of {root.name}: no result; see {log}", flush=True)
        return failed
    row = table.iloc[0]
    cpu = sum(r.final.learner_cpu_seconds or 0 for _, r in sweep_records(root / CONFIRM_DIR)
              if r is not None and r.final is not None)
    return {"confirmed": float(row["confirmed_mean"]),
            "confirmed_values": list(row["confirmed_values"]), "confirm_cpu": cpu,
            "replayed": replayed}


# --------------------------------------------------------------------------- the table


def share_curve(curve: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """A sweep's curve against the share of its own learner CPU (0..1): both arms spend
    the same CPU by construction, and a curve read at another sweep's total would miss
    its last job for a fraction of a percent of measured CPU."""
    total = curve[-1][0] if curve else 0.0
    return [(cpu / total, best, done) for cpu, best, done in curve] if total > 0 else []


def cell(values: list) -> str:
    """Mean +- standard error over seeds; "-" if a seed has no value."""
    if not values or any(v is None for v in values):
        return "-"
    return mean_se([float(v) for v in values])


def ratio(off: list, on: list) -> str:
    """PBT / no PBT of the means over seeds ("-" if a value is missing or no PBT's mean is
    not positive)."""
    if not off or None in off or None in on:
        return "-"
    base = statistics.mean(off)
    return f"{statistics.mean(on) / base:.2f}" if base > 0 else "-"


def table_rows(results: dict[str, list[dict]], metric_ratio: bool
               ) -> list[tuple[str, list, list, bool]]:
    """(reading, no-PBT values per seed, PBT values per seed, whether a ratio means
    something: not for a reward, which may be near or below zero)."""
    off, on = results[ARMS[0]], results[ARMS[1]]

    def both(key):
        return [r[key] for r in off], [r[key] for r in on]

    rows = [("jobs per sweep", *both("jobs"), True),
            ("exploits per sweep", *both("exploits"), False),
            ("learner CPU s per sweep", *both("learner_cpu"), True)]
    for fraction in FRACTIONS:
        rows.append((f"best metric after {fraction:.0%} of the sweep's learner CPU",
                     [value_at(share_curve(r["curve"]), fraction) for r in off],
                     [value_at(share_curve(r["curve"]), fraction) for r in on], metric_ratio))
    rows += [("best metric of the sweep", *both("best_metric"), metric_ratio),
             ("winner confirmed (fresh seeds)", *both("confirmed"), metric_ratio),
             ("confirmation learner CPU s", *both("confirm_cpu"), True)]
    return rows


def report(results: dict[str, list[dict]], args) -> None:
    print(f"\n| reading | {ARMS[0]} | {ARMS[1]} | PBT / no PBT | PBT - no PBT, paired by seed |")
    print("| --- | --- | --- | --- | --- |")
    for reading, off, on, with_ratio in table_rows(results, metric_ratio=args.real):
        paired = cell([None if None in (a, b) else b - a for a, b in zip(off, on, strict=True)])
        print(f"| {reading} | {cell(off)} | {cell(on)} | {ratio(off, on) if with_ratio else '-'}"
              f" | {paired} |")
    off, on = results[ARMS[0]], results[ARMS[1]]
    print(f"\nPBT confirmation replayed the winner's schedule: "
          f"{sum(r['replayed'] for r in on)} of {len(on)} seed(s)")
    print(f"exploits skipped (no donor with a complete checkpoint): "
          f"{sum(r['skipped'] for r in on)}")
    curves = {arm: [share_curve(r["curve"]) for r in results[arm]] for arm in ARMS}
    if all(all(arm_curves) for arm_curves in curves.values()):
        result = compare(curves[ARMS[0]], curves[ARMS[1]], tolerance=0.0)
        reach = ("not reached" if result.pruned_reach is None
                 else f"after {result.pruned_reach:.0%} of its learner CPU")
        print(f"the PBT arm's best metric (mean over seeds) reaches the no-PBT arm's final best"
              f" {result.final_quality:.4g}: {reach}")
        (args.work / "pbt_curves.json").write_text(json.dumps(
            {arm: mean_curve(arm_curves) for arm, arm_curves in curves.items()}))
    if not args.real:
        noise = (standin.SEED_SD ** 2 + standin.EVAL_SD ** 2 / args.episodes) ** 0.5
        print(f"noise of one run's final metric (stand-in): {noise:.3f}; of a confirmed mean"
              f" over {args.confirm_seeds} seeds: {noise / args.confirm_seeds ** 0.5:.3f}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="sweep repetitions per arm")
    parser.add_argument("--samples", type=int, default=16, help="jobs per sweep")
    parser.add_argument("--per-iteration", type=int, default=8, help="n_jobs_per_iteration")
    parser.add_argument("--optimizer", choices=("random", "cem"), default="random")
    parser.add_argument("--runs", type=int, default=1, help="learning_runs_per_job")
    parser.add_argument("--iterations", type=int, default=4, help="training_iterations")
    parser.add_argument("--timesteps", type=int, default=25000, help="per training iteration")
    parser.add_argument("--episodes", type=int, default=50, help="final evaluation episodes")
    parser.add_argument("--intermediate-episodes", type=int, default=20)
    parser.add_argument("--quantile-fraction", type=float, default=0.25)
    parser.add_argument("--min-jobs", type=int, default=2, help="pbt.min_jobs")
    parser.add_argument("--confirm-seeds", type=int, default=4,
                        help="fresh seeds per confirmed winner")
    parser.add_argument("--standin-cpu", type=float, default=0.02,
                        help="the stand-in's CPU seconds per 1000 timesteps")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 4 jobs, 2 iterations: shows that it works (< 1 min)")
    parser.add_argument("--real", action="store_true",
                        help="one seed on the real aiming task (hp_optim/ppo_pbt.json); the"
                        " budget: --samples (default 8), --iterations (5), --timesteps (204800"
                        " per iteration), --runs (2), --episodes (100), --intermediate-episodes"
                        " (50), --confirm-seeds")
    parser.add_argument("--work", type=Path, default=OUTPUT / "pbt")
    parser.add_argument("--one-sweep", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    given = {a.split("=")[0] for a in (argv or []) if a.startswith("--")}
    if args.quick:
        args.seeds, args.samples, args.per_iteration, args.iterations = 1, 4, 4, 2
        args.timesteps, args.episodes, args.intermediate_episodes = 10000, 20, 10
        args.confirm_seeds, args.quantile_fraction, args.min_jobs = 2, 0.5, 1
    if args.real:
        real = {"--samples": ("samples", 8), "--per-iteration": ("per_iteration", 8),
                "--iterations": ("iterations", 5), "--timesteps": ("timesteps", 204800),
                "--runs": ("runs", 2), "--episodes": ("episodes", 100),
                "--intermediate-episodes": ("intermediate_episodes", 50),
                "--confirm-seeds": ("confirm_seeds", 3)}
        for option, (name, default) in real.items():
            if option not in given:
                setattr(args, name, default)
        args.seeds = 1
    args.work = args.work.resolve()  # cluster_utils puts a relative results_dir under ~
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.one_sweep:
        return one_sweep(args.one_sweep, args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    started = time.time()
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in range(args.seeds):
        for arm in ARMS:  # side by side: both arms of a seed one after the other
            name = f"{args.optimizer}{'_pbt' if arm == 'PBT' else ''}_seed{seed}"
            config = arm_config(name, args, arm == "PBT", args.work / "results")
            result = run_arm(config, seed, args, args.work)
            results[arm].append(result)
            confirmed = "-" if result["confirmed"] is None else f"{result['confirmed']:.4f}"
            print(f"{name}: {result['jobs']} jobs, {result['exploits']} exploits,"
                  f" learner CPU {result['learner_cpu']:.1f} s, best metric"
                  f" {result['best_metric']:.4f}, winner confirmed {confirmed}"
                  f" ({args.confirm_seeds} fresh seeds); sweep {result['wall']:.0f} s,"
                  f" confirmation {result['confirm_wall']:.0f} s,"
                  f" load average {os.getloadavg()[0]:.2f}", flush=True)
    report(results, args)
    print(f"\n{'real aiming task' if args.real else 'stand-in learner'}, {args.optimizer};"
          f" {args.samples} jobs ({args.per_iteration} per optimizer iteration) x {args.runs}"
          f" run(s) x {args.iterations} iterations x {args.timesteps} timesteps per arm and"
          f" seed, {args.seeds} seed(s); total {time.time() - started:.0f} s; load average"
          f" after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
