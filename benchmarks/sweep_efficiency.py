"""How much of a local sweep's CPU time goes into training, and what a job adds.

Runs ``python -m cluster_utils.hp_optimization`` on hp_optim/ppo_local.json (local
mode), changed to --jobs jobs of --runs learner runs with --timesteps each, results in
benchmarks/output/.  Then reads every job's restart state (job_state.json), where the
job records when its process started, when each learner started and ended, the
learner's CPU seconds (os.wait4) and when the job ended.  Prints:

- efficiency = sum of learner CPU seconds / (wall seconds x cores), for the whole
  command (cluster_utils start-up and clean-up included) and for the span from the
  first job's start to the last job's end;
- learner occupancy = sum of learner wall seconds / (wall seconds x cores) and the
  learners' CPU share while running: when other processes load the machine, the
  efficiency drops with that share while the occupancy shows what the jobs leave idle;
- per-job overhead = (learner start - job process start) + (job end - learner end),
  per cluster job (one learner each), mean and max; and the gap between a job's exit
  for resume and its next start (in local mode this includes waiting for a free
  worker behind the other queued jobs, so it is not idle CPU time).

Usage: python benchmarks/sweep_efficiency.py [--jobs 4] [--runs 2] [--timesteps 80000]
(defaults: 8 cluster jobs of 40-60 s each on an idle 2-core machine)
Figures are only meaningful on an otherwise idle machine (the load average is printed).
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


def sweep_config(args: argparse.Namespace, results_dir: Path) -> Path:
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["optimization_procedure_name"] = "sweep_efficiency"
    config["results_dir"] = str(results_dir)
    config["remove_working_dirs"] = False  # keep every job's state for the analysis
    config["num_best_jobs_whose_data_is_kept"] = 0
    config["fixed_params"].update({
        "config.rl_config.num_timesteps": args.timesteps,
        "learning_runs_per_job": args.runs,
    })
    config["optimization_setting"].update(
        number_of_samples=args.jobs, n_jobs_per_iteration=args.jobs
    )
    path = OUTPUT / "sweep_efficiency_config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def analyse(working_dirs: list[Path], wall: float, cores: int) -> dict:
    cpu = 0.0
    overheads, gaps, learner_walls = [], [], []
    first_start, last_end = float("inf"), 0.0
    for working_dir in working_dirs:
        state = json.loads((working_dir / "job_state.json").read_text())
        attempts = [a for run in state["runs"] for a in run["attempts"] if a["started"]]
        cpu += sum(a["cpu_seconds"] for a in attempts)
        learner_walls += [a["ended"] - a["started"] for a in attempts]
        segments = state["segments"]
        for segment in segments:
            if segment["learners"]:
                overheads.append(segment["ended"] - segment["started"] - segment["learner_seconds"])
        for before, after in zip(segments, segments[1:], strict=False):
            gaps.append(after["started"] - before["ended"])
        first_start = min(first_start, segments[0]["started"])
        last_end = max(last_end, segments[-1]["ended"])
    span = last_end - first_start
    return {
        "jobs": len(working_dirs),
        "cluster_jobs": len(overheads),
        "cores": cores,
        "learner_cpu_seconds": round(cpu, 2),
        "learner_wall_seconds_mean": round(statistics.mean(learner_walls), 2),
        "command_wall_seconds": round(wall, 2),
        "jobs_span_seconds": round(span, 2),
        "efficiency_command": round(cpu / (wall * cores), 3),
        "efficiency_jobs_span": round(cpu / (span * cores), 3),
        # independent of other load on the machine: how much of wall x cores had a
        # learner running, and how much CPU the learners got while they ran
        "learner_occupancy": round(sum(learner_walls) / (wall * cores), 3),
        "learner_cpu_share_while_running": round(cpu / sum(learner_walls), 3),
        "overhead_per_job_seconds_mean": round(statistics.mean(overheads), 3),
        "overhead_per_job_seconds_max": round(max(overheads), 3),
        "resume_gap_seconds_mean": round(statistics.mean(gaps), 3) if gaps else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2, help="learner runs per job")
    parser.add_argument("--timesteps", type=int, default=80000, help="per learner run")
    args = parser.parse_args(argv)

    OUTPUT.mkdir(parents=True, exist_ok=True)
    results_dir = OUTPUT / "sweep_results"
    shutil.rmtree(results_dir, ignore_errors=True)
    config = sweep_config(args, results_dir)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    start = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "cluster_utils.hp_optimization", str(config)],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    wall = time.time() - start
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
        return 1
    working_dirs = sorted((results_dir / "sweep_efficiency" / "working_directories").iterdir())
    figures = analyse(working_dirs, wall, cores)
    figures["load_average_before"] = [round(x, 2) for x in load_before]
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["settings"] = vars(args)
    (OUTPUT / "sweep_efficiency.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{figures['jobs']} jobs x {args.runs} runs x {args.timesteps} timesteps,"
          f" {figures['cluster_jobs']} cluster jobs (one learner each), {cores} cores")
    print(f"learner CPU seconds: {figures['learner_cpu_seconds']}"
          f" (learner wall per run {figures['learner_wall_seconds_mean']} s)")
    print(f"efficiency (learner CPU / (wall x cores)): {figures['efficiency_command']} over"
          f" the whole command ({figures['command_wall_seconds']} s),"
          f" {figures['efficiency_jobs_span']} over the jobs' span"
          f" ({figures['jobs_span_seconds']} s)")
    print(f"learner occupancy (learner wall / (wall x cores)): {figures['learner_occupancy']};"
          f" learners got {figures['learner_cpu_share_while_running']} of a core while"
          " running (below 1: other processes competed for the CPU)")
    print(f"overhead per job: mean {figures['overhead_per_job_seconds_mean']} s, max"
          f" {figures['overhead_per_job_seconds_max']} s (job start to learner start +"
          f" learner end to job end); resume gap mean {figures['resume_gap_seconds_mean']} s")
    print(f"load average before {figures['load_average_before']},"
          f" after {figures['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
