"""How many useful env steps a local sweep trains per core-second, and what a job adds.

Runs ``python -m cluster_utils.hp_optimization`` (local mode) on hp_optim/ppo_local.json,
changed to ``--jobs`` jobs of ppo.json's shape: ``--runs`` (3) learner runs of
``--iterations`` (3) chained training iterations of ``--timesteps`` each, on
``--cpus-per-job`` (1) CPUs, one iteration's intermediate evaluation of
``--intermediate-episodes`` and a final one of ``--eval-episodes`` (ppo.json's 10 per
100k steps and 50 per run, scaled); no pruning, only the learning rate sampled (every
job's step costs what the reference's does). Results in benchmarks/output/.

Axes (each takes several values; every combination is run, one sweep after the other):
``--concurrency`` jobs at once (cluster_utils' ``max_cpus`` = concurrency x CPUs per job;
default: the machine's cores / CPUs per job), ``--chunk`` what one cluster job does
(``job``: all its rounds in one process, the default; ``round``: one round of learners,
then exit for resume: the setting resume_after_each_round, the behaviour before) and
``--start`` (``warm``: learners forked by the job's fork server, the default; ``cold``:
each a new process, warm_learner_start false). ``--compare`` runs the old way (round,
cold) and the new one (job, warm) in one invocation.

Before the sweeps, one learner alone (``python -m learning``, the same merged config,
``iterations x timesteps`` steps: one run in one go, pinned to one CPU) gives the
reference rate: useful steps per second of a core that does nothing but train it, from
process start to exit (imports, set-up and evaluation included), and its rate inside
the process (run_info.json's wall time: set-up, training, evaluation).

Prints, per sweep: each fixed cost separately (engine latency per chunk, job start,
config check, to the first learner, fork server imports, first and later learner
starts, job end; learning/benchmarks/sweep_costs.py says how each is measured), the
fixed cost per chunk (all included) and per learner, and the efficiency = useful steps
/ (wall seconds x cores in use) / reference rate, over the whole command and over the
jobs' span. Figures are only meaningful on an otherwise idle machine (the load average
is printed).

Usage: python benchmarks/sweep_efficiency.py [--jobs 4] [--runs 3] [--iterations 3]
[--timesteps 16384] [--cpus-per-job 1] [--concurrency N ...] [--chunk job|round ...]
[--start warm|cold ...] [--compare]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUTPUT = REPO / "benchmarks" / "output"

from benchmarks.sweep_costs import cost_figures, read_sweep  # noqa: E402


def sweep_config(args: argparse.Namespace, results_dir: Path, concurrency: int, chunk: str,
                 start: str) -> dict:
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["optimization_procedure_name"] = "sweep_efficiency"
    config["results_dir"] = str(results_dir)
    config["remove_working_dirs"] = False  # keep every job's state for the analysis
    config["num_best_jobs_whose_data_is_kept"] = 0
    config["cluster_requirements"]["request_cpus"] = args.cpus_per_job
    config["cluster_requirements"]["max_cpus"] = concurrency * args.cpus_per_job
    # every job costs the same per step as the reference learner: only the learning rate
    # is sampled (n_envs, batch_size and normalization would change the rate), no pruning
    # (a stopped job would not train its timesteps)
    config["optimized_params"] = [p for p in config["optimized_params"]
                                  if p["param"] == "config.rl_config.learning_rate"]
    fixed = {key: value for key, value in config["fixed_params"].items()
             if not key.startswith("pruning.")}
    fixed.update({
        "config.rl_config.num_timesteps": args.timesteps,
        "config.rl_common_config.evaluation_episodes": args.eval_episodes,
        "intermediate_evaluation_episodes": args.intermediate_episodes,
        "learning_runs_per_job": args.runs,
        "training_iterations": args.iterations,
        "resume_after_each_round": chunk == "round",
        "warm_learner_start": start == "warm",
    })
    config["fixed_params"] = fixed
    config["optimization_setting"].update(
        number_of_samples=args.jobs, n_jobs_per_iteration=args.jobs
    )
    return config


def reference_rate(config: dict, cpu: int, timesteps: int) -> tuple[float, float]:
    """Useful steps per second of one learner alone on ``cpu`` training ``timesteps`` on
    the sweep's fixed parameters (optimized ones at their template values): from process
    start to exit, and inside the process (run_info.json's wall time)."""
    from learning.job.settings import merged_configs

    fixed = {key: value for key, value in config["fixed_params"].items()
             if key.startswith("config.")}
    roles = merged_configs(fixed, cwd=REPO).roles
    roles["rl_config"].update(log_path="logs", save_path="model.zip", load_path="",
                              num_timesteps=timesteps)
    roles["rl_common_config"]["random_seed"] = 0
    folder = OUTPUT / "sweep_reference"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for role, content in roles.items():  # the env's roles, then rl_config, rl_common_config
        (folder / f"{role}.json").write_text(json.dumps(content))
    (folder / "config.json").write_text(json.dumps({role: f"{role}.json" for role in roles}))
    started = time.time()
    subprocess.run([sys.executable, "-m", "learning", "config.json"], cwd=folder, check=True,
                   env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                   preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    wall = time.time() - started
    info = json.loads((folder / "logs" / "run_info.json").read_text())
    return info["num_timesteps"] / wall, info["num_timesteps"] / info["wall_time_s"]


def run_sweep(config: dict, name: str) -> float:
    """Run the sweep; its wall seconds."""
    path = OUTPUT / f"sweep_efficiency_{name}.json"
    path.write_text(json.dumps(config, indent=2))
    start = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "cluster_utils.hp_optimization", str(path)],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(1)
    return time.time() - start


def measure(args: argparse.Namespace, concurrency: int, chunk: str, start: str,
            reference: tuple[float, float]) -> dict:
    name = f"c{concurrency}-{chunk}-{start}"
    results_dir = OUTPUT / f"sweep_results_{name}"
    shutil.rmtree(results_dir, ignore_errors=True)
    config = sweep_config(args, results_dir, concurrency, chunk, start)
    load_before = os.getloadavg()
    wall = run_sweep(config, name)
    working_dirs = sorted((results_dir / "sweep_efficiency" / "working_directories").iterdir())
    costs = read_sweep(working_dirs, concurrency)
    cores = concurrency * args.cpus_per_job
    span = costs.last_end - costs.first_start
    steps = costs.useful_steps
    return {
        "name": name, "concurrency": concurrency, "chunk": chunk, "start": start,
        "jobs": len(working_dirs), "cores": cores, "useful_steps": steps,
        "command_wall_seconds": round(wall, 2), "jobs_span_seconds": round(span, 2),
        "steps_per_core_s": round(steps / (wall * cores), 1),
        "efficiency_command": round(steps / (wall * cores) / reference[0], 3),
        "efficiency_jobs_span": round(steps / (span * cores) / reference[0], 3),
        "efficiency_vs_in_process_rate": round(steps / (span * cores) / reference[1], 3),
        "learner_occupancy": round(costs.learner_wall / (wall * cores), 3),
        **cost_figures(costs),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="learner runs per job")
    parser.add_argument("--iterations", type=int, default=3, help="training iterations")
    parser.add_argument("--timesteps", type=int, default=16384, help="per iteration")
    parser.add_argument("--eval-episodes", type=int, default=8, help="final evaluation")
    parser.add_argument("--intermediate-episodes", type=int, default=2)
    parser.add_argument("--cpus-per-job", type=int, default=1, help="request_cpus")
    parser.add_argument("--concurrency", type=int, nargs="+", default=None,
                        help="jobs at once (default: cores / CPUs per job)")
    parser.add_argument("--chunk", choices=("job", "round"), nargs="+", default=["job"])
    parser.add_argument("--start", choices=("warm", "cold"), nargs="+", default=["warm"])
    parser.add_argument("--compare", action="store_true",
                        help="the old way (round, cold), then the new one (job, warm)")
    args = parser.parse_args(argv)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    concurrencies = args.concurrency or [max(len(cpus) // args.cpus_per_job, 1)]
    variants = ([("round", "cold"), ("job", "warm")] if args.compare
                else list(itertools.product(args.chunk, args.start)))
    load_before = os.getloadavg()
    print(f"{len(cpus)} cores; load average before {[round(x, 2) for x in load_before]}",
          flush=True)
    base = sweep_config(args, OUTPUT, 1, "job", "warm")
    reference = reference_rate(base, cpus[0], args.iterations * args.timesteps)
    print(f"one learner alone on one core, {args.iterations * args.timesteps} steps (one"
          f" run in one go): {reference[0]:.1f} steps/s from process start to exit,"
          f" {reference[1]:.1f} inside the process", flush=True)
    results = []
    for concurrency in concurrencies:
        for chunk, start in variants:
            figures = measure(args, concurrency, chunk, start, reference)
            results.append(figures)
            report(figures, args)
    summary = {"settings": vars(args), "cores": len(cpus),
               "reference_steps_per_s": round(reference[0], 1),
               "reference_in_process_steps_per_s": round(reference[1], 1),
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in os.getloadavg()],
               "sweeps": results}
    (OUTPUT / "sweep_efficiency.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"load average after {summary['load_average_after']}; figures in"
          f" {OUTPUT / 'sweep_efficiency.json'}")
    return 0


def _cost(figures: dict, key: str) -> str:
    value = figures[key]
    if not value["n"]:
        return "-"
    return f"{value['mean']:.2f} s (max {value['max']:.2f}, n {value['n']})"


def report(figures: dict, args: argparse.Namespace) -> None:
    print(f"\n== {figures['jobs']} jobs x {args.runs} runs x {args.iterations} iterations x"
          f" {args.timesteps} steps, {args.cpus_per_job} CPU(s) per job, concurrency"
          f" {figures['concurrency']}, chunk = {figures['chunk']}, {figures['start']}"
          f" learner starts: {figures['cluster_jobs']} cluster jobs, {figures['learners']}"
          f" learners ({figures['warm_learners']} warm), {figures['cores']} cores in use")
    for label, key in (("engine latency per chunk", "engine_latency_per_chunk"),
                       ("job start (process start to main)", "job_start"),
                       ("config check", "config_check"),
                       ("job main to its first learner's start", "to_first_learner"),
                       ("fork server imports (per job process)", "fork_server_imports"),
                       ("first learner start of a job process", "first_learner_start"),
                       ("learner start (the others)", "learner_start"),
                       ("between learners (per chunk)", "between_learners_per_chunk"),
                       ("job end (last learner end to job end)", "job_end"),
                       ("FIXED COST PER CHUNK (all included)", "fixed_per_chunk")):
        print(f"  {label:42s} {_cost(figures, key)}")
    print(f"  {'fixed cost per learner (per iteration)':42s} {figures['fixed_per_learner']} s")
    print(f"  useful steps {figures['useful_steps']}, {figures['steps_per_core_s']} per"
          f" core-second; EFFICIENCY {figures['efficiency_command']} over the whole command"
          f" ({figures['command_wall_seconds']} s), {figures['efficiency_jobs_span']} over the"
          f" jobs' span ({figures['jobs_span_seconds']} s); against the reference's rate"
          f" inside its process {figures['efficiency_vs_in_process_rate']}; learner"
          f" occupancy {figures['learner_occupancy']}")
    print(f"  load average before {figures['load_average_before']}, after"
          f" {figures['load_average_after']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
