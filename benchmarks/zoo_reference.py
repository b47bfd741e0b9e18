"""Reference check of the training path: rl-baselines3-zoo's tuned settings, trained here,
next to the scores the zoo publishes.

Each task is a config converted from the zoo's hyperparameter YAML by ``lttfs zoo``
(shipped under config/zoo/<task>/). The benchmark trains it with the real learner
(``python -m learning``) for several seeds, ``--parallel`` at a time (one torch thread
each), and prints our mean and standard deviation over seeds of each seed's deterministic
evaluation (``--eval-episodes`` episodes on a separate env) beside the zoo's row of its
``benchmark.md`` (one trained agent, its mean and std over episodes). The zoo measured
gymnasium's MuJoCo v3 envs (mujoco-py); the installed gymnasium has v5 (new MuJoCo
bindings, slightly different models and defaults), so a locomotion score is comparable in
magnitude, not to the digit.

    python benchmarks/zoo_reference.py --task pendulum_ppo --seeds 4       # ~4 min, 2 cores
    python benchmarks/zoo_reference.py --task halfcheetah_ppo --seeds 3 --parallel 3  # 1M: long
    python benchmarks/zoo_reference.py --task pendulum_ppo --seeds 1 --timesteps 2048  # tiny

Writes benchmarks/output/zoo_reference_<task>.json (per-seed scores, wall times, load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "benchmarks" / "output"
ZOO_CONFIGS = REPO / "config" / "zoo"
#: where the published rows come from
SOURCE = ("rl-baselines3-zoo benchmark.md (github.com/DLR-RM/rl-baselines3-zoo, commit"
          " 0088472b8cb622732bdbc4aa3d0d0abde86c67ed)")


@dataclass(frozen=True)
class Published:
    """One row of the zoo's benchmark.md, as it is written there."""

    row: str
    mean: float
    std: float


#: task -> the zoo's published row for the same algorithm and env (their env version)
PUBLISHED = {
    "pendulum_ppo": Published("|ppo  |Pendulum-v1                |   -172.225|   104.159|100k"
                              "       |        150000|          750|", -172.225, 104.159),
    "pendulum_sac": Published("|sac  |Pendulum-v1                |   -156.995|    88.714|20k "
                              "       |        150000|          750|", -156.995, 88.714),
    "halfcheetah_ppo": Published("|ppo  |HalfCheetah-v3             |   5819.099|   663.530|1M"
                                 "         |        150000|          150|", 5819.099, 663.530),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=sorted(PUBLISHED),
                        help="a converted zoo config under config/zoo/")
    parser.add_argument("--seeds", type=int, default=4, help="training seeds (0..N-1)")
    parser.add_argument("--parallel", type=int, default=2, help="seeds trained at once")
    parser.add_argument("--timesteps", type=int, default=None,
                        help="training budget (default: the zoo's n_timesteps)")
    parser.add_argument("--eval-episodes", type=int, default=50,
                        help="deterministic evaluation episodes per seed")
    parser.add_argument("--output", default=str(OUTPUT))
    return parser.parse_args(argv)


def train_one(config: Path, seed: int, folder: Path, timesteps: int | None,
              episodes: int) -> dict:
    """One seed with the real learner in its own process; its evaluation and wall time."""
    run = folder / f"seed_{seed}"
    run.mkdir(parents=True)
    overrides = [f"rl_common_config.random_seed={seed}",
                 f"rl_common_config.evaluation_episodes={episodes}",
                 "rl_common_config.torch_threads=1", "rl_config.verbose=0",
                 f"rl_config.log_path={run / 'logs'}",
                 f"rl_config.save_path={run / 'model.zip'}"]
    if timesteps is not None:
        overrides.append(f"rl_config.num_timesteps={timesteps}")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "learning", str(config), *overrides],
                            cwd=run, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"seed {seed} failed ({result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
    evaluation = json.loads((run / "logs" / "evaluation.json").read_text())
    return {"seed": seed, "mean_reward": evaluation["mean_reward"],
            "std_reward": evaluation["std_reward"], "episodes": evaluation["episodes"],
            "num_timesteps": evaluation["num_timesteps"], "env_id": evaluation["env_id"],
            "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = ZOO_CONFIGS / args.task / "config.json"
    if not config.is_file():
        print(f"no converted config {config}: convert it with lttfs zoo (docs/zoo.md)",
              file=sys.stderr)
        return 2
    published = PUBLISHED[args.task]
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zoo_reference_") as folder, \
            ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        runs = list(pool.map(lambda seed: train_one(config, seed, Path(folder),
                                                    args.timesteps, args.eval_episodes),
                             range(args.seeds)))
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    scores = [run["mean_reward"] for run in runs]
    mean = statistics.fmean(scores)
    std = statistics.pstdev(scores) if len(scores) > 1 else 0.0
    env_id, timesteps = runs[0]["env_id"], runs[0]["num_timesteps"]
    print(f"zoo reference: {args.task} ({config.relative_to(REPO)}), {env_id},"
          f" {timesteps} timesteps, {args.seeds} seed(s), {args.eval_episodes} deterministic"
          " evaluation episodes each")
    for run in runs:
        print(f"  seed {run['seed']}: mean reward {run['mean_reward']:.1f}"
              f" (std over episodes {run['std_reward']:.1f}), {run['wall_s']:.0f} s")
    print(f"here:      mean {mean:.1f} +- {std:.1f} (std over seeds of each seed's mean)")
    print(f"published: mean {published.mean:.1f} +- {published.std:.1f} (one agent, std over"
          f" episodes) -- {SOURCE}:")
    print(f"  {published.row}")
    print(f"wall {wall:.0f} s with {args.parallel} at once; load average before"
          f" {' '.join(f'{x:.2f}' for x in load_before)}, after"
          f" {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    report = {"task": args.task, "env_id": env_id, "num_timesteps": timesteps,
              "seeds": args.seeds, "eval_episodes": args.eval_episodes, "runs": runs,
              "mean": mean, "std_over_seeds": std, "published": published.__dict__,
              "source": SOURCE, "wall_s": round(wall, 1), "parallel": args.parallel,
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in load_after]}
    target = output / f"zoo_reference_{args.task}.json"
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=1))
    temporary.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
