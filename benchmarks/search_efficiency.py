"""Search efficiency: best setting found against CPU spent, per optimizer, with and without
pruning (the job's rule, learning.job.pruning), repeated over seeds.

Every variant is a real local sweep (``python -m learning.sweep``: pre-flight, cluster_utils
3.0's hp_optimization, run_learning.py jobs with their rounds, retries and pruning),
``--per-iteration`` jobs per optimizer iteration, 2 at a time: ``--samples`` jobs without
pruning, ``--pruned-samples`` (default twice as many) with ``pruning.keep_fraction``
(default 0.5, the median rule) and ``pruning.min_jobs`` (``--min-jobs``, default 3), so
that a pruned sweep can spend the unpruned sweep's budget on more settings. Optimizers:
random search (nevergrad's RandomSearch), CEM (cluster_utils' cem_metaoptimizer) and
nevergrad's TwoPointsDE; each variant repeated with ``--seeds`` optimizer seeds (numpy's
global seed in the sweep's main process, which both cluster_utils' CEM and nevergrad draw
from). Pruned and unpruned sweeps with the same seed share their first samples.

By default the jobs run the stand-in learner ``benchmarks/learning_standin.py`` (through the
job's LTTFS_LEARNER_MODULE hook): the same files as the real learner, a documented noisy
learning curve of learning_rate, robot_position:0 and gamma, so the true final reward of
every setting is known and hundreds of trials take minutes. ``--real`` runs a small sweep
pair (random search, without and with pruning) on the real table-tennis task instead.
``--cluster-utils-kill`` adds, per seed, random search with cluster_utils' own
``kill_bad_jobs_early`` instead of the job's rule (run with ``python -m
cluster_utils.hp_optimization`` directly, since the launcher refuses that setting): it
prints how many jobs cluster_utils marked killed and how many of them trained on anyway.

Figures, per variant (mean over seeds, +- standard error):
- cost: timesteps trained by all jobs (what the real learner's CPU time is proportional
  to) and learner CPU seconds as measured by the jobs (os.wait4); the sweep's whole CPU
  time (main process, jobs, learners) is printed too;
- best reported metric (mean_eval_reward of the sweep's best job) and, for the stand-in,
  its regret: the best true final reward within the bounds minus the winner's true final
  reward (lower is better; the evaluation noise of a job's metric is printed beside it);
- pruning against no pruning, per optimizer (benchmarks/search_curves.py): at equal samples
  (the pruned sweep's first jobs in sampling order, as many as the unpruned sweep ran,
  paired by seed) the CPU saved and the change of the winner's true reward; at equal final
  quality (mean curves of the best true reward found against timesteps, over seeds) the CPU
  the pruned sweeps needed to come within the noise of one job's metric of the unpruned
  sweeps' final quality, against the unpruned budget; at equal budget the pruned winner
  against the unpruned one. Goal, judged for both readings: >= 40% saved with the winner
  within noise (at equal samples, resp. at equal budget).
Also writes benchmarks/output/search_efficiency.png: best true reward of the best job so
far against timesteps trained.

Usage: python benchmarks/search_efficiency.py [--seeds 3] [--samples 24] [--quick] [--real]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import learning_standin as standin  # noqa: E402
from benchmarks.search_curves import compare, first_jobs, mean_curve  # noqa: E402
from learning.atomic_io import atomic_write_json  # noqa: E402

OUTPUT = REPO / "benchmarks" / "output"
OPTIMIZERS = {"random": ("nevergrad", {"opt_alg": "randomsearch"}),
              "cem": ("cem_metaoptimizer", {"with_restarts": False, "num_jobs_in_elite": 3}),
              "twopointsde": ("nevergrad", {"opt_alg": "twopointsde"})}
METRIC = "mean_eval_reward"
GOAL = 0.4  # CPU saved by pruning (at equal samples and at equal final quality)


KILL = "cluster_utils_kill"  # the variant with cluster_utils' kill_bad_jobs_early


def sweep_config(name: str, optimizer: str, args, pruned, results: Path) -> dict:
    optimizer_str, settings = OPTIMIZERS[optimizer]
    fixed = {"config.config_templates": "hp_optim/config_templates_ppo.json",
             "config.rl_config.num_timesteps": args.timesteps,
             "config.rl_common_config.evaluation_episodes": args.episodes,
             "intermediate_evaluation_episodes": args.intermediate_episodes,
             "learning_runs_per_job": args.runs, "training_iterations": args.iterations,
             "max_attempts": 2, "local_cpu_pinning": True}
    if args.real:
        fixed.update({"config.rl_config.n_steps": 256, "config.rl_config.batch_size": 64,
                      "config.rl_config.n_epochs": 2})
    if pruned is True:
        fixed.update({"pruning.keep_fraction": args.keep_fraction,
                      "pruning.min_jobs": args.min_jobs})
    bounds = standin.BOUNDS
    killing = {"kill_bad_jobs_early": True,
               "early_killing_params": {"target_rank": 3, "how_many_stds": 0}}
    return {**(killing if pruned == KILL else {}),
        "optimization_procedure_name": name, "results_dir": str(results),
        "run_in_working_dir": True, "no_user_interaction": True, "generate_report": "never",
        "script_relative_path": "run_learning.py", "remove_jobs_dir": True,
        "remove_working_dirs": True, "num_best_jobs_whose_data_is_kept": 1,
        "environment_setup": {"virtual_env_path": sys.prefix},
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": fixed, "optimizer_str": optimizer_str,
        "optimizer_settings": settings,
        "optimization_setting": {"metric_to_optimize": METRIC, "minimize": False,
                                 "number_of_samples": args.pruned_samples if pruned is True
                                 else args.samples,
                                 "n_jobs_per_iteration": args.per_iteration,
                                 "n_completed_jobs_before_resubmit": 1, "run_local": True},
        "optimized_params": [
            {"param": "config.rl_config.learning_rate", "distribution": "TruncatedLogNormal",
             "bounds": list(bounds["config.rl_config.learning_rate"])},
            {"param": "config.hysr_config.robot_position:0", "distribution": "TruncatedNormal",
             "bounds": list(bounds["config.hysr_config.robot_position:0"])},
            {"param": "config.rl_config.gamma", "distribution": "TruncatedNormal",
             "bounds": list(bounds["config.rl_config.gamma"])},
        ],
    }


def one_sweep(config_file: Path, seed: int) -> int:
    """In the sweep's own process: seed the optimizers' random numbers, run the launcher
    (or cluster_utils directly for the kill_bad_jobs_early variant)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if json.loads(config_file.read_text()).get("kill_bad_jobs_early"):
        from cluster_utils.hp_optimization import main as cluster_utils_main

        sys.argv = ["cluster_utils.hp_optimization", str(config_file)]
        cluster_utils_main()
        return 0
    from learning.launch.launcher import main

    return main([str(config_file), "--fresh"])


def run_sweep(config: dict, seed: int, work: Path, real: bool) -> dict:
    config_file = work / f"{config['optimization_procedure_name']}.json"
    config_file.write_text(json.dumps(config, indent=1))
    env = dict(os.environ, PYTHONPATH=str(REPO), CLUSTER_UTILS_CACHE_DIR=str(work / "cache"))
    if not real:
        env["LTTFS_LEARNER_MODULE"] = "benchmarks.learning_standin"
    log = work / f"{config['optimization_procedure_name']}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    with open(log, "w") as out:
        code = subprocess.run([sys.executable, __file__, "--one-sweep", str(config_file),
                               "--seed", str(seed)], cwd=REPO, env=env, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"sweep failed (exit code {code}); see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cost = {"sweep_cpu": cpu, "wall": time.time() - started}
    atomic_write_json(config_file.with_suffix(".cost.json"), cost)
    root = Path(config["results_dir"]) / config["optimization_procedure_name"]
    return summarize(root, config, cost["sweep_cpu"], cost["wall"], real)


def reread_sweep(config: dict, work: Path, real: bool) -> dict:
    """A finished sweep of an earlier run in ``work``, summarized again (--reread); its
    whole-sweep CPU and wall time are known only if that run wrote them."""
    name = config["optimization_procedure_name"]
    cost_file = work / f"{name}.cost.json"
    cost = json.loads(cost_file.read_text()) if cost_file.exists() else {}
    root = Path(config["results_dir"]) / name
    if not (root / "all_data.csv").exists():
        raise SystemExit(f"--reread: no finished sweep {name} in {work}")
    return summarize(root, config, cost.get("sweep_cpu", math.nan),
                     cost.get("wall", math.nan), real)


def summarize(root: Path, config: dict, sweep_cpu: float, wall: float, real: bool) -> dict:
    import pandas as pd

    from learning.records.intermediate import FINISHED, sweep_records

    jobs = pd.read_csv(root / "all_data.csv", index_col=0)
    records = {record.job_id: record for _, record in sweep_records(root)
               if record is not None and record.final is not None}
    order = sorted(records.values(), key=lambda r: r.final.time)
    total_steps = config["fixed_params"]["config.rl_config.num_timesteps"] * \
        config["fixed_params"]["training_iterations"]
    curve, spent, best = [], 0, None
    for done, record in enumerate(order, 1):  # best job so far (by its metric) against cost
        spent += record.final.timesteps_trained
        rows = jobs[jobs["id"] == record.job_id]
        if not rows.empty and (best is None or rows[METRIC].iloc[0] > best[METRIC]):
            best = rows.iloc[0]
        if not real and best is not None:
            curve.append((spent, true_final(best, total_steps), done))
    by_id = [] if real else [  # (job id, timesteps trained, reported metric, true final)
        (int(row["id"]), records[row["id"]].final.timesteps_trained,
         float(row[METRIC]), true_final(row, total_steps))
        for _, row in jobs.sort_values("id").iterrows() if row["id"] in records]
    winner = jobs.loc[jobs[METRIC].idxmax()]
    out = {"cost_steps": sum(r.final.timesteps_trained for r in records.values()),
           "learner_cpu": sum(r.final.learner_cpu_seconds for r in records.values()),
           "sweep_cpu": sweep_cpu, "wall": wall, "jobs": len(jobs),
           "stopped": int(jobs.get("stopped_early", pd.Series(dtype=float)).fillna(0).sum()),
           # cluster_utils' kill: only the optimized metric recorded; did the job train on?
           "killed": int(jobs["finished_runs"].isna().sum()),
           "killed_trained_on": sum(1 for i in jobs[jobs["finished_runs"].isna()]["id"]
                                    if i in records and records[i].status == FINISHED),
           "best_metric": float(winner[METRIC]), "curve": curve, "by_id": by_id}
    if not real:
        out["regret"] = standin.best_true_reward(total_steps) - true_final(winner, total_steps)
    return out


def true_final(row, total_steps: int) -> float:
    """The stand-in's noiseless final reward of a job's setting (a row of all_data.csv)."""
    return standin.true_reward(float(row["config.rl_config.learning_rate"]),
                               float(row["config.hysr_config.robot_position:0"]),
                               float(row["config.rl_config.gamma"]), total_steps)


def mean_se(values: list[float], percent: bool = False) -> str:
    """Mean +- standard error over seeds ("-" if a value is unknown)."""
    if any(math.isnan(v) for v in values):
        return "-"
    number, spread = (".0%", ".0%") if percent else (".4g", ".2g")
    if len(values) < 2:
        return f"{values[0]:{number}}"
    se = statistics.stdev(values) / len(values) ** 0.5
    return f"{statistics.mean(values):{number}} +- {se:{spread}}"


LABELS = {False: "", True: " + pruning", KILL: " + cu kill"}


def report(results: dict, args) -> None:
    print(f"\n{'variant':<22} {'jobs':>6} {'cost (timesteps)':>22} {'learner CPU s':>16}"
          f" {'sweep CPU s':>14} {'stopped':>8} {'best metric':>18}"
          + ("" if args.real else f" {'regret':>18}"))
    for (optimizer, pruned), runs in results.items():
        line = (f"{optimizer + LABELS[pruned]:<22}"
                f" {statistics.mean(r['jobs'] for r in runs):>6.1f}"
                f" {mean_se([r['cost_steps'] for r in runs]):>22}"
                f" {mean_se([r['learner_cpu'] for r in runs]):>16}"
                f" {mean_se([r['sweep_cpu'] for r in runs]):>14}"
                f" {statistics.mean(r['stopped'] for r in runs):>8.1f}"
                f" {mean_se([r['best_metric'] for r in runs]):>18}")
        if not args.real:
            line += f" {mean_se([r['regret'] for r in runs]):>18}"
        print(line)
    noise = (standin.SEED_SD ** 2 + standin.EVAL_SD ** 2 / args.episodes) ** 0.5 / args.runs ** 0.5
    print(f"\nnoise of one job's metric (sd of its mean over {args.runs} run(s)): "
          f"{noise:.3f}" if not args.real else "")
    for runs in [results[key] for key in results if key[1] == KILL]:
        print(f"cluster_utils' kill_bad_jobs_early: {sum(r['killed'] for r in runs)} job(s)"
              f" marked killed, {sum(r['killed_trained_on'] for r in runs)} of them trained"
              " all their iterations anyway")
    for optimizer in args.optimizers:
        off, on = results.get((optimizer, False)), results.get((optimizer, True))
        if off and on:
            print_pruning(optimizer, off, on, noise, args)


def print_pruning(optimizer: str, off: list, on: list, noise: float, args) -> None:
    """Pruned against unpruned sweeps of one optimizer: at equal samples (the pruned sweep's
    first jobs in sampling order, paired by seed), then, for the stand-in, at equal final
    quality and at equal budget (mean curves over seeds, search_curves)."""
    key = "best_metric" if args.real else "regret"
    if args.real:
        saved = [1 - b["cost_steps"] / a["cost_steps"] for a, b in zip(off, on, strict=True)]
        delta = [b[key] - a[key] for a, b in zip(off, on, strict=True)]
        print(f"{optimizer}: CPU saved {mean_se(saved, percent=True)} (timesteps) on equal samples,"
              f" {key} change {mean_se(delta)}")
        return
    equal = [first_jobs(b["by_id"], len(a["by_id"])) for a, b in zip(off, on, strict=True)]
    saved = [1 - cost / a["cost_steps"] for a, (cost, _) in zip(off, equal, strict=True)]
    delta = [quality - a["curve"][-1][1] for a, (_, quality) in zip(off, equal, strict=True)]
    met = statistics.mean(saved) >= GOAL and statistics.mean(delta) >= -noise
    print(f"{optimizer}, equal samples (the pruned sweep's first jobs, as many as the"
          f" unpruned sweep ran; paired by seed): CPU saved {mean_se(saved, percent=True)}"
          f" (timesteps), true reward of the winner {mean_se(delta)} -> {goal_verdict(met)}")
    result = compare([r["curve"] for r in off], [r["curve"] for r in on], noise)
    reach = "never" if result.pruned_reach is None else f"after {result.pruned_reach:.3g}"
    strict = "-" if result.saved_strict is None else f"{result.saved_strict:.0%}"
    print(f"{optimizer}, equal final quality (mean curves over {len(off)} seed(s)): unpruned"
          f" {result.final_quality:.3f} after {result.budget:.3g} timesteps; pruned within"
          f" {noise:.3f} of it {reach}: CPU saved "
          + ("-" if result.saved is None else f"{result.saved:.0%}")
          + f" (against the unpruned mean curve's own {result.unpruned_reach or 0:.3g}"
          f" to get there: {strict})")
    at = min(result.budget, result.pruned_end)
    change = result.change_at_budget
    print(f"{optimizer}, equal budget ({at:.3g} timesteps): pruned "
          + ("-" if change is None else f"{result.pruned_at_budget:.3f} ({change:+.3f})")
          + f" -> {goal_verdict(result.meets(GOAL))} at equal final quality")


def goal_verdict(met: bool) -> str:
    return f"goal (>= {GOAL:.0%} saved, winner within noise) {'MET' if met else 'NOT met'}"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, ((optimizer, pruned), runs) in enumerate(results.items()):
        for j, r in enumerate(runs):
            xs, ys = [c[0] for c in r["curve"]], [c[1] for c in r["curve"]]
            ax.step(xs, ys, where="post", color=f"C{i // 2}", ls="-" if pruned is False else "--",
                    alpha=0.3, lw=0.8, label=None if j else optimizer + LABELS[pruned])
    for i, (optimizer, pruned) in enumerate(results):
        if not all(r["curve"] for r in results[(optimizer, pruned)]):
            continue
        points = mean_curve([r["curve"] for r in results[(optimizer, pruned)]])
        ax.step([p[0] for p in points], [p[1] for p in points], where="post", lw=2.5,
                color=f"C{i // 2}", ls="-" if pruned is False else "--",
                label=f"{optimizer + LABELS[pruned]}, mean over seeds")
    ax.set_xlabel("timesteps trained by the sweep's jobs (cost)")
    ax.set_ylabel("true final reward of the best job so far")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=24, help="jobs per sweep")
    parser.add_argument("--pruned-samples", type=int, default=0,
                        help="jobs per pruned sweep (default: twice --samples, so that the"
                        " pruned sweeps can spend the unpruned budget)")
    parser.add_argument("--per-iteration", type=int, default=6, help="n_jobs_per_iteration")
    parser.add_argument("--runs", type=int, default=1, help="learning_runs_per_job")
    parser.add_argument("--iterations", type=int, default=4, help="training_iterations")
    parser.add_argument("--timesteps", type=int, default=25000, help="per training iteration")
    parser.add_argument("--episodes", type=int, default=50, help="final evaluation episodes")
    parser.add_argument("--intermediate-episodes", type=int, default=10)
    parser.add_argument("--keep-fraction", type=float, default=0.5)
    parser.add_argument("--min-jobs", type=int, default=3,
                        help="pruning.min_jobs (3 as in ppo_nevergrad.json;"
                             " see docs/pruning-design.md)")
    parser.add_argument("--optimizers", default="random,cem,twopointsde")
    parser.add_argument("--cluster-utils-kill", action="store_true",
                        help="also random search with cluster_utils' kill_bad_jobs_early")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 12 samples, 3 iterations: shows that it works")
    parser.add_argument("--real", action="store_true",
                        help="the real learner on table tennis: random search, 1 seed, small")
    parser.add_argument("--work", type=Path, default=OUTPUT / "search_efficiency")
    parser.add_argument("--reread", action="store_true",
                        help="summarize the sweeps of an earlier run in --work again (same"
                        " arguments) instead of running them")
    parser.add_argument("--one-sweep", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.samples, args.per_iteration, args.iterations = 1, 12, 4, 3
        args.min_jobs = min(args.min_jobs, 3)
    if args.real:
        args.seeds, args.optimizers = 1, "random"
        args.samples, args.per_iteration, args.iterations = min(args.samples, 8), 4, 2
        args.timesteps, args.episodes, args.intermediate_episodes = 4096, 10, 5
        args.min_jobs = min(args.min_jobs, 3)
        args.pruned_samples = args.samples
    args.pruned_samples = args.pruned_samples or 2 * args.samples
    args.optimizers = args.optimizers.split(",")
    args.work = args.work.resolve()  # cluster_utils puts a relative results_dir under ~
    return args


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.one_sweep:
        return one_sweep(args.one_sweep, args.seed)
    if not args.reread:
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    print(f"load average before: {os.getloadavg()}")
    started = time.time()
    results: dict = {}
    for seed in range(args.seeds):
        variants = [(optimizer, pruned) for optimizer in args.optimizers
                    for pruned in (False, True)]
        if args.cluster_utils_kill:
            variants.append(("random", KILL))
        for optimizer, pruned in variants:
            suffix = {False: "", True: "_pruned", KILL: "_cukill"}[pruned]
            name = f"{optimizer}{suffix}_seed{seed}"
            config = sweep_config(name, optimizer, args, pruned, args.work / "results")
            if args.reread:
                result = reread_sweep(config, args.work, args.real)
            else:
                result = run_sweep(config, seed, args.work, args.real)
            results.setdefault((optimizer, pruned), []).append(result)
            print(f"{name}: {result['jobs']} jobs ({result['stopped']} stopped early,"
                  f" {result['killed']} killed by cluster_utils),"
                  f" {result['cost_steps']} timesteps, best {METRIC}"
                  f" {result['best_metric']:.4f}"
                  + (f", regret {result['regret']:.4f}" if not args.real else "")
                  + f", {result['wall']:.0f} s", flush=True)
    report(results, args)
    if not args.real:
        plot(results, OUTPUT / "search_efficiency.png")
    print(f"\n{'real table tennis' if args.real else 'stand-in learner'}; {args.samples} samples"
          f" x {args.runs} run(s) x {args.iterations} iterations x {args.timesteps} timesteps;"
          f" total {time.time() - started:.0f} s; load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
