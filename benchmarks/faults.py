"""Faults a job survives: jobs recovered, timesteps retrained per kill, results lost.

Runs real standalone jobs (``run_learning.py settings.json``, real learners, PPO on the
table-tennis env, tiny budgets: one run of --timesteps, rollouts of 64 steps, checkpoints
every --interval timesteps) and hurts them while they train:

- every learner attempt is SIGKILLed with probability --kill-probability at a random
  moment of its training (when it has collected a random fraction, 5-95 %, of the
  timesteps it was asked for; read from its episodes.csv and progress.csv);
- job 0: the job process itself is SIGKILLed once during its first attempt (its learner
  gets SIGTERM from the kernel and saves), then the same command runs again;
- job 1: its working directory is on a small tmpfs (--disk-kib) that is filled during
  its first attempt (root only: mount), then the filler is removed and the command runs
  again;
- job 2: stopped with SIGTERM during its first attempt (exit code 3), then its
  job_state.json is cut in half; the job must refuse it naming the file, the file is
  moved away as the message says, and the command runs again (training from scratch);
- job 3: its first learner is SIGSTOPped (as if hung) at a random moment of its
  training; the job, with learner_stall_seconds --stall-seconds, must notice the stall,
  stop the learner (SIGTERM and SIGCONT: it saves; SIGKILL after a grace) and retry it
  as a failed attempt. It reports how long after the SIGSTOP the attempt ended.

Per job it checks the result: exit code 0 in the end, metrics finite, the final model's
timesteps exactly the target, failed_attempts equal to the learners it killed (and
stalled), no temporary file left. A job that passes is "recovered"; one that ends with a wrong or
missing result has "lost" its result. For each SIGKILL it counts the timesteps retrained:
those the killed learner had collected (to within one episode: episodes.csv) minus those
the retry started from. The same kill schedule then runs on --baseline-jobs jobs without
checkpoints (checkpoint_interval 0) for comparison.

An independent check: it reads the job's files (job_state.json, the models' ``data``,
run_info.json) with its own small readers on purpose, not with the job's
(learning.records.job_state, learning.records.model_zip), which decide where every retry
continues: a fault in those could otherwise hide itself.

Goals: 100 % recovered, at most one checkpoint interval retrained per kill, 0 results lost,
a stalled learner stopped within learner_stall_seconds plus a quarter of it, a heartbeat
(1 s) and its save.

Usage: python benchmarks/faults.py [--jobs 10] [--timesteps 2048] [--interval 256]
[--kill-probability 0.5] [--baseline-jobs 4] [--parallel 2] [--stall-seconds 5] [--seed 0]
[--keep]
About 4-6 minutes on 2 busy cores with the defaults. Prints the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLLOUT = 64  # n_steps: PPO's rollout


@dataclass
class Kill:
    attempt: str
    collected: int  # timesteps the learner had collected (episodes.csv, progress.csv)
    resumed_from: int | None = None  # timesteps the next attempt started from
    kind: str = "learner"  # learner | job | disk | stall
    stopped_at: float | None = None  # stall: when the learner was SIGSTOPped
    noticed_after: float | None = None  # stall: seconds from the SIGSTOP to the attempt's end

    @property
    def retrained(self) -> int | None:
        return None if self.resumed_from is None else max(self.collected - self.resumed_from, 0)


@dataclass
class JobRun:
    index: int
    fault: str  # random | job_kill | full_disk | corrupt_state | stall
    interval: int
    folder: Path
    kills: list[Kill] = field(default_factory=list)
    attempts: int = 0
    exit_codes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def working_dir(self) -> Path:
        return self.folder / "job"


# --------------------------------------------------------------------------- reading files


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collected_timesteps(attempt_dir: Path) -> int:
    """The most timesteps the attempt's learner is known to have collected."""
    best = 0
    for name, column in (("progress.csv", "time/total_timesteps"),
                         ("episodes.csv", "num_timesteps")):
        try:
            with open(attempt_dir / "logs" / name, newline="") as f:
                for row in csv.DictReader(f):
                    if row.get(column):
                        best = max(best, int(float(row[column])))
        except (OSError, ValueError, csv.Error):
            continue
    return best


def model_timesteps(path: Path) -> int | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("data"))["num_timesteps"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


# --------------------------------------------------------------------------- the faults


class Saboteur(threading.Thread):
    """Watches one job's restart state; SIGKILLs each new learner attempt with probability
    p when it has collected a random fraction of its timesteps, or applies the job's own
    fault (``first``, a function of the attempt folder and pid) to its first attempt."""

    def __init__(self, job: JobRun, rng: random.Random, probability: float, first=None) -> None:
        super().__init__(daemon=True)
        self.job, self.rng, self.probability, self.first = job, rng, probability, first
        self.seen: set[str] = set()
        self.plans: dict[str, float | None] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            state = read_json(self.job.working_dir / "job_state.json") or {}
            for entry in state.get("in_flight", []):
                if entry.get("pid"):
                    self._watch(entry["dir"], entry["pid"])
            time.sleep(0.02)

    def _watch(self, attempt: str, pid: int) -> None:
        folder = self.job.working_dir / attempt
        if attempt not in self.seen:
            self.seen.add(attempt)
            draw = self.rng.random()  # drawn for every attempt: same schedule per variant
            fraction = self.rng.uniform(0.05, 0.95)
            special = self.first is not None and len(self.seen) == 1
            self.plans[attempt] = fraction if (special or draw < self.probability) else None
        fraction = self.plans.get(attempt)
        info = read_json(folder / "logs" / "run_info.json") or {}
        config = read_json(folder / "config" / "rl_config.json") or {}
        start = info.get("num_timesteps_start")
        if fraction is None or start is None or "num_timesteps" not in config:
            return
        if collected_timesteps(folder) < start + fraction * config["num_timesteps"]:
            return
        self.plans[attempt] = None
        if self.first is not None and attempt == min(self.seen):
            self.first(attempt, pid)
            return
        try:  # the pid of a learner still running, not one the system reused
            if b"learning" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return
            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            return
        self.job.kills.append(Kill(attempt, 0))


def settings_for(job: JobRun, timesteps: int, seed: int, stall_seconds: float) -> Path:
    settings = {
        "config": {
            "config_templates": "hp_optim/config_templates_ppo.json",
            "rl_config": {"n_steps": ROLLOUT, "batch_size": 64, "n_epochs": 1,
                          "num_timesteps": timesteps},
            "rl_common_config": {"evaluation_episodes": 5, "log_episodes": True,
                                 "random_seed": seed, "checkpoint_interval": job.interval},
        },
        "learning_runs_per_job": 1,
        "max_attempts": 50,
        "working_dir": str(job.working_dir),
    }
    if job.fault == "stall":
        settings["learner_stall_seconds"] = stall_seconds
    path = job.folder / "settings.json"
    path.write_text(json.dumps(settings, indent=1))
    return path


def start_job(job: JobRun, settings: Path) -> subprocess.Popen:
    log = open(job.folder / f"job_{len(job.exit_codes)}.out", "w")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(REPO / "run_learning.py"), str(settings)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def mount_tmpfs(point: Path, size_kib: int) -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    point.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                             str(point)], capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else result.stderr.strip()


def fill(disk: Path) -> None:
    stat = os.statvfs(disk)
    with open(disk / "filler", "wb") as f:
        try:
            f.write(b"\0" * (stat.f_bavail * stat.f_frsize))
        except OSError:
            pass


def run_job(job: JobRun, args: argparse.Namespace, probability: float) -> JobRun:
    """One job with its faults, run again until it ends (or gives up)."""
    started = time.time()
    rng = random.Random(args.seed * 1000 + job.index)
    if job.fault == "full_disk":
        why_not = mount_tmpfs(job.working_dir, args.disk_kib)
        if why_not:
            job.problems.append(f"skipped the full disk: {why_not}")
            job.fault = "random"
    settings = settings_for(job, args.timesteps, seed=args.seed * 1000 + job.index,
                            stall_seconds=args.stall_seconds)
    first = None
    holder: dict[str, subprocess.Popen] = {}
    if job.fault == "job_kill":
        def first(attempt, pid):
            job.kills.append(Kill(attempt, 0, kind="job"))
            holder["process"].send_signal(signal.SIGKILL)
    elif job.fault == "full_disk":
        def first(attempt, pid):
            job.kills.append(Kill(attempt, 0, kind="disk"))
            fill(job.working_dir)
    elif job.fault == "corrupt_state":
        def first(attempt, pid):
            holder["process"].send_signal(signal.SIGTERM)
    elif job.fault == "stall":
        def first(attempt, pid):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                return
            job.kills.append(Kill(attempt, 0, kind="stall", stopped_at=time.time()))
    saboteur = Saboteur(job, rng, probability, first)
    saboteur.start()
    for _ in range(6):
        holder["process"] = start_job(job, settings)
        code = holder["process"].wait()
        job.exit_codes.append(code)
        if code == 0 or not recover(job, code):
            break
    saboteur.done.set()
    saboteur.join()
    job.seconds = time.time() - started
    check(job, args.timesteps)
    if job.fault == "full_disk":
        subprocess.run(["umount", "-l", str(job.working_dir)], check=False)
    return job


def recover(job: JobRun, code: int) -> bool:
    """What a user does after each fault; False if the job's answer was wrong."""
    output = (job.folder / f"job_{len(job.exit_codes) - 1}.out").read_text(errors="replace")
    if job.fault == "job_kill" and code == -signal.SIGKILL:
        return True
    if job.fault == "full_disk" and code == 74:
        if "free space and run the same command again" not in output:
            job.problems.append("full disk: no message saying what to do")
        (job.working_dir / "filler").unlink(missing_ok=True)
        return True
    if job.fault == "corrupt_state" and code == 3:
        path = job.working_dir / "job_state.json"
        text = path.read_text()
        path.write_text(text[: len(text) // 2])
        return True
    if job.fault == "corrupt_state" and code == 1:
        if "job_state.json is not valid JSON" not in output or "Move it away" not in output:
            job.problems.append("corrupt state: the message does not name the file")
            return False
        (job.working_dir / "job_state.json").rename(job.working_dir / "job_state.json.bad")
        return True
    job.problems.append(f"exit code {code}: {output.strip().splitlines()[-1:]}")
    return False


def check(job: JobRun, timesteps: int) -> None:
    """The job's result is right, and the timesteps retrained per kill."""
    state = read_json(job.working_dir / "job_state.json") or {}
    runs = state.get("runs", [])
    attempts = [a for run in runs for a in run.get("attempts", [])]
    job.attempts = len(attempts)
    by_dir = {a["dir"]: i for i, a in enumerate(attempts)}
    for kill in job.kills:
        kill.collected = collected_timesteps(job.working_dir / kill.attempt)
        index = by_dir.get(kill.attempt)
        if kill.kind == "learner" and index is not None and attempts[index]["outcome"] == "ok":
            kill.kind = "after_finish"  # it had finished: nothing to retrain
            continue
        if kill.kind == "stall" and index is not None:
            stalled = attempts[index]
            if stalled.get("ended") is not None:
                kill.noticed_after = round(stalled["ended"] - kill.stopped_at, 1)
            if stalled["outcome"] != "failed" or not stalled["message"].startswith("stalled:"):
                job.problems.append(f"stall not noticed: {kill.attempt} ended"
                                    f" {stalled['outcome']}: {stalled['message']}")
        following = by_dir.get(kill.attempt, -1) + 1
        if 0 < following < len(attempts):
            info = read_json(job.working_dir / attempts[following]["dir"] / "logs"
                             / "run_info.json") or {}
            kill.resumed_from = info.get("num_timesteps_start")
    if job.exit_codes[-1:] != [0] or state.get("status") != "finished":
        job.problems.append(f"did not finish: exit codes {job.exit_codes}")
        return
    metrics = state.get("metrics") or {}
    if not metrics or not all(isinstance(v, (int, float)) and math.isfinite(v)
                              for v in metrics.values()):
        job.problems.append(f"metrics not finite: {metrics}")
    final = model_timesteps(job.working_dir / (runs[0].get("final_model") or "x"))
    if final != timesteps:
        job.problems.append(f"final model has {final} timesteps, target {timesteps}")
    learner_kills = sum(k.kind in ("learner", "stall") for k in job.kills)
    if metrics.get("failed_attempts") != learner_kills:
        job.problems.append(f"failed_attempts {metrics.get('failed_attempts')}, learners"
                            f" killed or stalled {learner_kills}")
    left = [str(p) for p in job.working_dir.rglob(".*") if ".tmp" in p.name]
    if left:
        job.problems.append(f"temporary files left: {left}")


# --------------------------------------------------------------------------- report


def summary(jobs: list[JobRun], interval: int) -> dict:
    sent = [k for job in jobs for k in job.kills if k.kind in ("learner", "after_finish")]
    kills = [k for k in sent if k.kind == "learner"]
    retrained = [k.retrained for k in kills if k.retrained is not None]
    attempts = sum(job.attempts for job in jobs)
    stalls = [k for job in jobs for k in job.kills if k.kind == "stall"]
    return {
        "jobs": len(jobs),
        "recovered": sum(not job.problems or all(p.startswith("skipped") for p in job.problems)
                         for job in jobs),
        "results_lost": sum(any(not p.startswith("skipped") for p in job.problems)
                            for job in jobs),
        "attempts": attempts,
        "learners_killed": len(sent),
        "killed_after_finishing": len(sent) - len(kills),
        "killed_fraction": round(len(sent) / attempts, 3) if attempts else 0.0,
        "retrained_mean": round(statistics.mean(retrained), 1) if retrained else None,
        "retrained_max": max(retrained) if retrained else None,
        "kills_over_one_interval": (sum(r > interval for r in retrained) if interval
                                    else None),
        "stalls": len(stalls),
        "stall_noticed_after": [k.noticed_after for k in stalls],
        "stall_retrained": [k.retrained for k in stalls],
        "seconds": round(sum(job.seconds for job in jobs), 1),
    }


def print_report(main: dict, baseline: dict | None, jobs: list[JobRun], args) -> None:
    print(f"\nfault benchmark: {args.timesteps} timesteps per job, rollouts of {ROLLOUT},"
          f" checkpoint_interval {args.interval}, kill probability {args.kill_probability}")
    for job in jobs:
        special = [f"{k.kind} fault: {k.collected} collected, resumed from {k.resumed_from}"
                   + (f", stopped {k.noticed_after} s after its SIGSTOP"
                      if k.kind == "stall" else "")
                   for k in job.kills if k.kind != "learner"]
        kills = [k.retrained for k in job.kills if k.kind == "learner"]
        print(f"  job {job.index} ({job.fault}): exit codes {job.exit_codes}, {job.attempts}"
              f" attempts, learners killed {len(kills)} (retrained {kills})"
              + (f"; {'; '.join(special)}" if special else "")
              + (f"; PROBLEMS: {job.problems}" if job.problems else ""))
    print(f"\njobs recovered: {main['recovered']} / {main['jobs']}; results lost:"
          f" {main['results_lost']}")
    print(f"learners SIGKILLed: {main['learners_killed']} of {main['attempts']} attempts"
          f" ({main['killed_fraction']:.0%}; {main['killed_after_finishing']} of them had"
          " finished: counted as finished)")
    print(f"timesteps retrained per kill: mean {main['retrained_mean']}, max"
          f" {main['retrained_max']} (checkpoint interval {args.interval}; kills retraining"
          f" more: {main['kills_over_one_interval']})")
    if main["stalls"]:
        print(f"stalled learners (SIGSTOP; learner_stall_seconds {args.stall_seconds:g}):"
              f" {main['stalls']}, attempt ended {main['stall_noticed_after']} s after the"
              f" SIGSTOP, timesteps retrained {main['stall_retrained']}")
    if baseline:
        ratio = (f"{baseline['retrained_mean'] / main['retrained_mean']:.1f}"
                 if main["retrained_mean"] and baseline["retrained_mean"] else "n/a")
        print(f"without checkpoints ({baseline['jobs']} jobs, {baseline['learners_killed']}"
              f" kills): retrained per kill mean {baseline['retrained_mean']}, max"
              f" {baseline['retrained_max']}; ratio without/with checkpoints: {ratio}")
    print(f"wall time {main['seconds'] + (baseline or {}).get('seconds', 0):.0f} s of job"
          f" time ({args.parallel} at once); load average {[round(x, 2) for x in os.getloadavg()]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--timesteps", type=int, default=2048)
    parser.add_argument("--interval", type=int, default=256)
    parser.add_argument("--kill-probability", type=float, default=0.5)
    parser.add_argument("--baseline-jobs", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--disk-kib", type=int, default=8192)
    parser.add_argument("--stall-seconds", type=float, default=5.0,
                        help="learner_stall_seconds of the job whose learner is SIGSTOPped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the jobs' folders")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="lttfs-faults-"))
    print(f"jobs in {root}; load average before {[round(x, 2) for x in os.getloadavg()]}",
          flush=True)
    faults = ["job_kill", "full_disk", "corrupt_state", "stall"]
    jobs = [JobRun(i, faults[i] if i < len(faults) else "random", args.interval,
                   root / f"job{i}") for i in range(args.jobs)]
    baseline = [JobRun(i, "random", 0, root / f"baseline{i}") for i in range(args.baseline_jobs)]
    for job in jobs + baseline:
        job.folder.mkdir(parents=True)
    with ThreadPoolExecutor(args.parallel) as pool:
        done = list(pool.map(lambda j: run_job(j, args, args.kill_probability), jobs + baseline))
    main_summary = summary(done[: len(jobs)], args.interval)
    base_summary = summary(done[len(jobs):], 0) if baseline else None
    print_report(main_summary, base_summary, done[: len(jobs)], args)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if main_summary["results_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
