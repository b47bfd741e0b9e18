"""Useful env steps per allocated core-second: one learner, a job, shared CPUs, vector envs.

Runs the real learner (``python -m learning``) or the real job (``run_learning.py``,
standalone) on the default PPO config with --timesteps per run, one variant after the
other, in one run of this script:

=================  ==========================================================  ====
variant            what                                                        CPUs
=================  ==========================================================  ====
1cpu               one learner pinned to one CPU (torch_threads 1)             1
2cpu_1thread       one learner allowed two CPUs, torch_threads 1               2
2cpu_2threads      one learner allowed two CPUs, torch_threads 2               2
job_2runs          a job of learning_runs_per_job 2 allowed two CPUs           2
shared_1thread     two learners started together, each allowed both CPUs,      2
                   torch_threads 1 (two jobs sharing a node without pinning)
shared_2threads    the same with torch_threads 2 (the old default: one torch   2
                   thread per allowed CPU)
n_envs_4, _8       one learner on one CPU, DummyVecEnv with 4 / 8 envs,        1
                   n_steps divided by n_envs (the same rollout size)
=================  ==========================================================  ====

rate = useful env steps / (wall seconds x allocated CPUs). The wall time runs from
starting the process(es) to their end: interpreter start, imports, set-up, training and
the final evaluation (--eval-episodes) all hold the allocation. Useful steps are the
timesteps of the final models (a job: of every run's final model). Every rate is also
given as a ratio to ``1cpu``; the two goals:

- job efficiency = rate(job_2runs) / rate(1cpu), goal >= 0.9 (a job uses every CPU);
- sharing ratio = rate(shared_1thread) / rate(1cpu), goal >= 0.8 (learners that may use
  the same CPUs do not wait on each other).

Usage: python benchmarks/throughput.py [--timesteps 32768] [--repeats 1]
[--variants 1cpu,job_2runs,...]; with --repeats N the variants run in N alternating rounds
and each shows its best. Only meaningful on an otherwise idle machine (the load average
is printed); about 5 minutes per round on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "benchmarks" / "output"
CONFIG = REPO / "config"
# variant -> (kind, CPUs allocated, processes, learner settings)
VARIANTS = {
    "1cpu": ("learner", 1, 1, {}),
    "2cpu_1thread": ("learner", 2, 1, {}),
    "2cpu_2threads": ("learner", 2, 1, {"torch_threads": 2}),
    "job_2runs": ("job", 2, 1, {}),
    "shared_1thread": ("learner", 2, 2, {}),
    "shared_2threads": ("learner", 2, 2, {"torch_threads": 2}),
    "n_envs_4": ("learner", 1, 1, {"n_envs": 4}),
    "n_envs_8": ("learner", 1, 1, {"n_envs": 8}),
}


def read(name: str) -> dict:
    return json.loads((CONFIG / name).read_text())


def role_changes(args: argparse.Namespace, settings: dict) -> tuple[dict, dict]:
    """rl_config and rl_common_config changes of a variant."""
    n_envs = settings.get("n_envs", 1)
    rl = {"num_timesteps": args.timesteps, "n_envs": n_envs, "verbose": 0,
          "n_steps": read("ppo_default.json")["n_steps"] // n_envs}
    common = {"evaluation_episodes": args.eval_episodes, "random_seed": 0,
              "torch_threads": settings.get("torch_threads", 1)}
    return rl, common


def learner_folder(folder: Path, rl: dict, common: dict) -> Path:
    """config.json for one learner in folder: the shipped defaults with the changes."""
    folder.mkdir(parents=True)
    roles = read("config.json")
    rl_config = dict(read(roles["rl_config"]), **rl, log_path="logs",
                     save_path="model.zip", load_path="")
    common_config = dict(read(roles["rl_common_config"]), **common)
    (folder / "rl_config.json").write_text(json.dumps(rl_config))
    (folder / "rl_common_config.json").write_text(json.dumps(common_config))
    roles = {role: str(CONFIG / name) for role, name in roles.items()}
    roles.update(rl_config="rl_config.json", rl_common_config="rl_common_config.json")
    (folder / "config.json").write_text(json.dumps(roles))
    return folder


def start(command: list[str], cwd: Path, cpus: list[int], threads: int) -> subprocess.Popen:
    """``command`` in ``cwd`` on ``cpus``, thread variables as the job sets them."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    with open(cwd / "stderr.txt", "w") as err:
        return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: os.sched_setaffinity(0, cpus))


def run_learners(folder: Path, count: int, cpus: list[int], rl: dict, common: dict) -> int:
    """``count`` learners started together on ``cpus``; their final timesteps."""
    folders = [learner_folder(folder / f"learner{i}", rl, common) for i in range(count)]
    processes = [start([sys.executable, "-m", "learning", "config.json"], f, cpus,
                       common["torch_threads"]) for f in folders]
    for process, learner in zip(processes, folders, strict=True):
        if process.wait() != 0:
            raise RuntimeError(f"learner failed, see {learner / 'stderr.txt'}")
    return sum(json.loads((f / "logs" / "run_info.json").read_text())["num_timesteps"]
               for f in folders)


def run_job(folder: Path, cpus: list[int], rl: dict, common: dict) -> int:
    """A standalone job of two runs on ``cpus``; the timesteps of its runs' final models."""
    folder.mkdir(parents=True)
    config = {"config_templates": "hp_optim/config_templates_ppo.json",
              "rl_config": rl, "rl_common_config": common}
    settings = {"config": config, "learning_runs_per_job": 2, "working_dir": str(folder)}
    (folder / "settings.json").write_text(json.dumps(settings))
    command = [sys.executable, str(REPO / "run_learning.py"), str(folder / "settings.json")]
    process = start(command, folder, cpus, common["torch_threads"])
    if process.wait() != 0:
        raise RuntimeError(f"job failed, see {folder / 'job.log'}")
    from learning.records.job_state import load_state

    return sum(run.score.timesteps for run in load_state(folder).runs)


def measure(name: str, args: argparse.Namespace, cpus: list[int]) -> dict:
    kind, allocated, processes, settings = VARIANTS[name]
    rl, common = role_changes(args, settings)
    folder = OUTPUT / "throughput" / name
    shutil.rmtree(folder, ignore_errors=True)
    started = time.time()
    if kind == "job":
        steps = run_job(folder, cpus[:allocated], rl, common)
    else:
        steps = run_learners(folder, processes, cpus[:allocated], rl, common)
    wall = time.time() - started
    return {"variant": name, "cpus": allocated, "processes": processes, "steps": steps,
            "wall_s": round(wall, 2), "rate": steps / (wall * allocated)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=32768, help="per learner run")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds through the variants; each variant's best is shown")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    names = [name for name in args.variants.split(",") if name]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    cpus = sorted(os.sched_getaffinity(0))
    skipped = [name for name in names if VARIANTS[name][1] > len(cpus)]
    names = [name for name in names if name not in skipped]
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)  # cluster-utils needs it
    load_before = os.getloadavg()
    best: dict[str, dict] = {}
    for _ in range(args.repeats):  # rounds through the variants, alternating
        for name in names:
            result = measure(name, args, cpus)
            if name not in best or result["rate"] > best[name]["rate"]:
                best[name] = result
    report([best[name] for name in names], args, load_before, skipped)
    return 0


def report(results: list[dict], args: argparse.Namespace, load_before: tuple,
           skipped: list[str]) -> None:
    rates = {r["variant"]: r["rate"] for r in results}
    base = rates.get("1cpu")
    print(f"PPO defaults, {args.timesteps} timesteps per run, {args.eval_episodes} evaluation"
          f" episodes, best of {args.repeats}; rate = useful env steps / (wall s x allocated"
          " CPUs)")
    print(f"{'variant':<16} {'CPUs':>4} {'procs':>5} {'steps':>7} {'wall_s':>7} {'rate':>7}"
          f" {'vs 1cpu':>7}")
    for r in results:
        ratio = f"{r['rate'] / base:7.2f}" if base else "      -"
        print(f"{r['variant']:<16} {r['cpus']:>4} {r['processes']:>5} {r['steps']:>7}"
              f" {r['wall_s']:>7.1f} {r['rate']:>7.0f} {ratio}")
    figures = {"results": results, "settings": vars(args), "skipped": skipped,
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    for label, variant, goal in (("job efficiency", "job_2runs", 0.9),
                                 ("sharing ratio", "shared_1thread", 0.8),
                                 ("sharing ratio, 2 torch threads", "shared_2threads", None)):
        if base and variant in rates:
            figures[label] = round(rates[variant] / base, 3)
            target = f" (goal >= {goal})" if goal else ""
            print(f"{label} ({variant} / 1cpu): {figures[label]:.2f}{target}")
    if skipped:
        print(f"skipped (need more CPUs than this process may use): {', '.join(skipped)}")
    print(f"load average before {figures['load_average_before']},"
          f" after {figures['load_average_after']}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "throughput.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
