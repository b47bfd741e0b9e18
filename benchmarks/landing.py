"""Where a trained policy hits the ball and where its returns land: the evidence for what
limits the return rate (docs/aiming.md).

    python benchmarks/landing.py RUN_DIR [RUN_DIR ...] [--episodes 200]

RUN_DIR is a training run's folder (``python -m learning``'s working directory, or a job's
``run_<i>.<iteration>-<attempt>`` folder): its recorded configs (logs/configs/config.json)
build the env, its final model (rl_config.save_path, with the normalization statistics saved
beside it) acts deterministically on ``--episodes`` balls drawn from ``--seed``. Prints,
per run: hit rate, return rate (within the recorded evaluation_target_radius), where the
balls were hit relative to the robot's base (x, the lateral axis) and where the returns
landed (balls that bounced after the hit) relative to the target, as mean and standard
deviation, and the quantiles of the returns' closest distance to the target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training run folders")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12345)
    return parser.parse_args(argv)


def episodes_of(run: Path, episodes: int, seed: int) -> tuple[list[dict], dict]:
    import torch

    from learning.config import algorithm_class, load_configs
    from learning.training.evaluation import evaluate, model_policy
    from learning.training.normalization import load_observation_normalizer
    from learning.training.train import make_env

    torch.set_num_threads(1)
    config = load_configs(run / "logs" / "configs" / "config.json", check_load_path=False)
    model_path = run / config.rl["save_path"]  # relative to the run's folder, or absolute
    env = make_env(config)
    model = algorithm_class(config.algorithm).load(model_path, device="cpu")
    policy = model_policy(model, load_observation_normalizer(model_path, env, config))
    radius = config.rl_common["evaluation_target_radius"]
    infos: list[dict] = []
    evaluate(policy, env, episodes, seed, radius, episode_infos=infos)
    return infos, {"hysr": config.hysr, "radius": radius}


def summary(infos: list[dict], hysr: dict, radius: float) -> dict:
    hits = [i for i in infos if i["hit"]]
    landed = [i for i in hits if i["end_reason"] == "bounced_after_hit"]
    robot_x, target = hysr["robot_position"][0], hysr["target_position"]
    hit_x = np.array([i["hit_position"][0] - robot_x for i in hits])
    land = np.array([i["ball_position"][:2] for i in landed]).reshape(-1, 2) - target[:2]
    distances = np.array([i["min_distance_ball_target"] for i in hits])

    def mean_std(values: np.ndarray) -> list[float] | None:
        return [round(float(values.mean()), 3), round(float(values.std()), 3)] if len(
            values) else None

    return {
        "episodes": len(infos),
        "robot_x": robot_x,
        "hit_rate": round(len(hits) / len(infos), 3),
        "return_rate": round(int(np.sum(distances <= radius)) / len(infos), 3),
        "hit_x_from_robot_mean_std": mean_std(hit_x),
        "returns_landed": len(landed),
        "landing_x_from_target_mean_std": mean_std(land[:, 0]),
        "landing_y_from_target_mean_std": mean_std(land[:, 1]),
        "target_distance_quantiles_10_50_90": (
            [round(float(q), 2) for q in np.percentile(distances, [10, 50, 90])]
            if len(distances) else None),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for run in args.runs:
        infos, context = episodes_of(run, args.episodes, args.seed)
        print(f"{run}: " + json.dumps(summary(infos, context["hysr"], context["radius"])),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
