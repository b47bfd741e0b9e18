"""How many useful env steps a local sweep trains per core-second, and what a job adds.

Runs ``python -m cluster_utils.hp_optimization`` on hp_optim/ppo_local.json (local
mode), changed to --jobs jobs of --runs learner runs with --timesteps each (one training
iteration, no pruning, only the learning rate sampled: every job's step costs what the
reference learner's does) and
--cpus-per-job CPUs per job (request_cpus; each job runs that many learners at once),
results in benchmarks/output/.  Before it, one learner alone (``python -m learning``, the
same merged config, pinned to one CPU) gives the reference rate: useful env steps per
second of a core that does nothing but train, from process start to exit (imports,
set-up and evaluation included).  Then reads every job's restart state (job_state.json,
learning.records.job_state).
Prints:

- efficiency = useful steps / (wall seconds x cores) / reference rate, for the whole
  command (cluster_utils start-up and clean-up included) and for the span from the first
  job's start to the last job's end.  Useful steps are the timesteps of the runs' final
  models: a failed attempt's steps, or CPU time that threads spend waiting on each other,
  do not count (learner CPU seconds would count both);
- learner occupancy = sum of learner wall seconds / (wall seconds x cores): how much of
  the machine had a learner on it;
- per-job overhead = (job process start to its first learner start) + (its last learner
  end to the job's end), per cluster job, mean and max; and the gap between a job's exit
  for resume and its next start (in local mode this includes waiting for a free worker
  behind the other queued jobs, so it is not idle CPU time).

Usage: python benchmarks/sweep_efficiency.py [--jobs 4] [--runs 2] [--timesteps 80000]
[--cpus-per-job 1]. Figures are only meaningful on an otherwise idle machine (the load
average is printed).
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
OUTPUT = REPO / "benchmarks" / "output"


def sweep_config(args: argparse.Namespace, results_dir: Path) -> dict:
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["optimization_procedure_name"] = "sweep_efficiency"
    config["results_dir"] = str(results_dir)
    config["remove_working_dirs"] = False  # keep every job's state for the analysis
    config["num_best_jobs_whose_data_is_kept"] = 0
    config["cluster_requirements"]["request_cpus"] = args.cpus_per_job
    # every job costs the same per step as the reference learner: only the learning rate
    # is sampled (n_envs, batch_size and normalization would change the rate), one
    # training iteration, no pruning (a stopped job would not train its timesteps)
    config["optimized_params"] = [p for p in config["optimized_params"]
                                  if p["param"] == "config.rl_config.learning_rate"]
    fixed = {key: value for key, value in config["fixed_params"].items()
             if not key.startswith("pruning.") and key != "intermediate_evaluation_episodes"}
    fixed.update({
        "config.rl_config.num_timesteps": args.timesteps,
        "learning_runs_per_job": args.runs,
        "training_iterations": 1,
    })
    config["fixed_params"] = fixed
    config["optimization_setting"].update(
        number_of_samples=args.jobs, n_jobs_per_iteration=args.jobs
    )
    return config


def reference_rate(config: dict, cpu: int) -> float:
    """Useful steps per second of one learner alone on ``cpu``, on the sweep's fixed
    parameters (optimized ones at their template values), process start to exit."""
    from learning.job.settings import merged_configs

    fixed = {key: value for key, value in config["fixed_params"].items()
             if key.startswith("config.")}
    roles = merged_configs(fixed, cwd=REPO).roles
    roles["rl_config"].update(log_path="logs", save_path="model.zip", load_path="")
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
    return info["num_timesteps"] / wall


def read_jobs(working_dirs: list[Path]) -> dict:
    """Useful steps, learner wall seconds, overheads and resume gaps of the jobs."""
    from learning.records.job_state import load_state

    found: dict = {"steps": 0, "learner_walls": [], "overheads": [], "gaps": [],
                   "first_start": float("inf"), "last_end": 0.0}
    for working_dir in working_dirs:
        state = load_state(working_dir)
        found["steps"] += sum(run.score.timesteps or 0 for run in state.runs if run.score)
        attempts = [a for run in state.runs for a in run.attempts if a.started]
        found["learner_walls"] += [a.ended - a.started for a in attempts]
        segments = state.segments
        for segment in segments:
            if segment.learners:
                found["overheads"].append(
                    segment.ended - segment.started - segment.learner_seconds)
        for before, after in zip(segments, segments[1:], strict=False):
            found["gaps"].append(after.started - before.ended)
        found["first_start"] = min(found["first_start"], segments[0].started)
        found["last_end"] = max(found["last_end"], segments[-1].ended)
    return found


def analyse(working_dirs: list[Path], wall: float, cores: int, reference: float) -> dict:
    found = read_jobs(working_dirs)
    span = found["last_end"] - found["first_start"]
    steps, overheads, gaps = found["steps"], found["overheads"], found["gaps"]
    return {
        "jobs": len(working_dirs),
        "cluster_jobs": len(overheads),
        "cores": cores,
        "useful_steps": steps,
        "reference_steps_per_s": round(reference, 1),
        "steps_per_core_s": round(steps / (wall * cores), 1),
        "command_wall_seconds": round(wall, 2),
        "jobs_span_seconds": round(span, 2),
        "efficiency_command": round(steps / (wall * cores) / reference, 3),
        "efficiency_jobs_span": round(steps / (span * cores) / reference, 3),
        "learner_occupancy": round(sum(found["learner_walls"]) / (wall * cores), 3),
        "overhead_per_job_seconds_mean": round(statistics.mean(overheads), 3),
        "overhead_per_job_seconds_max": round(max(overheads), 3),
        "resume_gap_seconds_mean": round(statistics.mean(gaps), 3) if gaps else None,
    }


def run_sweep(config: dict) -> float:
    """Run the sweep; its wall seconds."""
    path = OUTPUT / "sweep_efficiency_config.json"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2, help="learner runs per job")
    parser.add_argument("--timesteps", type=int, default=80000, help="per learner run")
    parser.add_argument("--cpus-per-job", type=int, default=1, help="request_cpus")
    args = parser.parse_args(argv)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    results_dir = OUTPUT / "sweep_results"
    shutil.rmtree(results_dir, ignore_errors=True)
    config = sweep_config(args, results_dir)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    reference = reference_rate(config, cpus[0])
    wall = run_sweep(config)
    working_dirs = sorted((results_dir / "sweep_efficiency" / "working_directories").iterdir())
    figures = analyse(working_dirs, wall, len(cpus), reference)
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["settings"] = vars(args)
    (OUTPUT / "sweep_efficiency.json").write_text(json.dumps(figures, indent=2) + "\n")
    report(figures, args)
    return 0


def report(figures: dict, args: argparse.Namespace) -> None:
    print(f"{figures['jobs']} jobs x {args.runs} runs x {args.timesteps} timesteps,"
          f" {args.cpus_per_job} CPU(s) per job, {figures['cluster_jobs']} cluster jobs,"
          f" {figures['cores']} cores")
    print(f"useful steps {figures['useful_steps']}: {figures['steps_per_core_s']} per core-second"
          f" over the whole command; one learner alone on one core:"
          f" {figures['reference_steps_per_s']} per second")
    print(f"efficiency (useful steps / (wall x cores) / reference):"
          f" {figures['efficiency_command']} over the whole command"
          f" ({figures['command_wall_seconds']} s), {figures['efficiency_jobs_span']} over the"
          f" jobs' span ({figures['jobs_span_seconds']} s)")
    print(f"learner occupancy (learner wall / (wall x cores)): {figures['learner_occupancy']}")
    print(f"overhead per cluster job: mean {figures['overhead_per_job_seconds_mean']} s, max"
          f" {figures['overhead_per_job_seconds_max']} s (job start to first learner start +"
          f" last learner end to job end); resume gap mean"
          f" {figures['resume_gap_seconds_mean']} s")
    print(f"load average before {figures['load_average_before']},"
          f" after {figures['load_average_after']}")


if __name__ == "__main__":
    sys.exit(main())
