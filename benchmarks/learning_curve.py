"""Learning curve of a config (default: PPO): evaluation reward, hit and return rate vs timesteps.

Trains with config/config.json's rl_config (PPO; --config config/config_sac.json: SAC,
config/config_ppo_zoo.json: rl-baselines3-zoo's MuJoCo PPO setting, config/config_aim.json:
the setting the aiming sweep found) in chunks and, after
each chunk, evaluates the deterministic policy on the same fixed balls (evaluation_episodes
from rl_common_config, one evaluation seed for every point; a normalized policy sees the
observation statistics so far, frozen); a uniformly random policy is evaluated on the same
balls for comparison. Prints a table and writes benchmarks/output/learning_curve_<config
name>.png and .json.

    python benchmarks/learning_curve.py                 # the figures of docs/benchmarks.md
    taskset -c 0 python benchmarks/learning_curve.py    # pinned to one core

torch runs on --threads threads (default 1, as the learner's torch_threads default). The
wall time is the training time (the evaluations are not counted); on a machine shared
with other work it is noisy (the load average is printed). At the end it prints the
timesteps and the training time after which the hit rate first reached 0.5 and 0.9 and the
return rate 0.3 and 0.6 (at the evaluation points: more --points, finer figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OUTPUT = REPO / "benchmarks" / "output"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.json"))
    parser.add_argument(
        "--timesteps",
        type=int,
        default=None,
        help="training budget (default: rl_config.num_timesteps)",
    )
    parser.add_argument("--points", type=int, default=10, help="evaluations along the way")
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="evaluation episodes (default: rl_common evaluation_episodes)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--output", default=str(OUTPUT))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from stable_baselines3.common.logger import Logger

    from learning.config import load_configs
    from learning.training.evaluation import evaluate, model_policy, random_policy
    from learning.training.normalization import normalize_training_env, observation_normalizer
    from learning.training.train import build_model, make_env, make_training_env

    torch.set_num_threads(args.threads)
    config = load_configs(args.config, check_load_path=False)
    config.rl["load_path"] = ""
    budget = args.timesteps or config.rl["num_timesteps"]
    episodes = args.episodes or config.rl_common["evaluation_episodes"]
    radius = config.rl_common["evaluation_target_radius"]
    eval_seed = args.seed + 1_000_003
    eval_env = make_env(config)

    def run_evaluation(policy):
        return evaluate(policy, eval_env, episodes, eval_seed, radius)

    random_result = run_evaluation(random_policy(eval_env.action_space, args.seed))
    env, _ = normalize_training_env(make_training_env(config), config)
    model, _ = build_model(config, env, args.seed)
    chunk = max(1, budget // args.points)
    model.set_logger(Logger(folder=None, output_formats=[]))  # quiet
    points, train_time = [], 0.0
    print(
        f"{config.algorithm.upper()} ({config.files['rl_config'].name}), {budget} timesteps,"
        f" {episodes} evaluation episodes, torch threads {args.threads},"
        f" CPUs allowed {len(os.sched_getaffinity(0))}"
    )
    print(
        f"random policy: reward {random_result['mean_reward']:.3f}, hit rate"
        f" {random_result['hit_rate']:.2f}, return rate {random_result['return_rate']:.2f}"
    )
    print(f"{'timesteps':>10} {'reward':>9} {'hit_rate':>9} {'return':>7} {'train_s':>8}")
    while model.num_timesteps < budget:
        start = time.time()
        model.learn(chunk, reset_num_timesteps=model.num_timesteps == 0)
        train_time += time.time() - start
        # with rl_config.normalize: the training statistics so far, not updated by this
        result = run_evaluation(model_policy(model, observation_normalizer(env)))
        point = {"timesteps": model.num_timesteps, "wall_time_s": round(train_time, 1), **result}
        points.append(point)
        print(
            f"{point['timesteps']:>10} {point['mean_reward']:>9.3f} {point['hit_rate']:>9.2f}"
            f" {point['return_rate']:>7.2f} {point['wall_time_s']:>8.0f}",
            flush=True,
        )
    reached = milestones(points)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    summary = {
        "config": str(args.config),
        "algorithm": config.algorithm.upper(),
        "rl_config_file": config.files["rl_config"].name,
        "rl_config": config.rl,
        "hysr_config": config.hysr,
        "seed": args.seed,
        "torch_threads": args.threads,
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "load_average_at_end": os.getloadavg(),
        "random_policy": random_result,
        "points": points,
        "reached": reached,
    }
    name = f"learning_curve_{Path(args.config).stem}"
    (output / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary, output / f"{name}.png")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())};"
          f" wrote {output / name}.png and .json")
    return 0


MILESTONES = (("hit_rate", 0.5), ("hit_rate", 0.9), ("return_rate", 0.3), ("return_rate", 0.6))


def milestones(points: list[dict]) -> dict[str, dict | None]:
    """The first evaluation point at or above each milestone (hit rate 0.5 and 0.9, return
    rate 0.3 and 0.6): its timesteps and training wall time (None: not reached); printed."""
    reached: dict[str, dict | None] = {}
    for key, goal in MILESTONES:
        point = next((p for p in points if p[key] >= goal), None)
        reached[f"{key}>={goal}"] = point and {"timesteps": point["timesteps"],
                                               "wall_time_s": point["wall_time_s"]}
        when = (f"after {point['timesteps']} timesteps, {point['wall_time_s']:.0f} s of"
                " training" if point else "not reached")
        print(f"{key.replace('_', ' ')} >= {goal}: {when}")
    return reached


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, rnd, algo = summary["points"], summary["random_policy"], summary["algorithm"]
    steps = [p["timesteps"] for p in points]
    fig, (ax_reward, ax_rate) = plt.subplots(1, 2, figsize=(10, 4))
    ax_reward.plot(steps, [p["mean_reward"] for p in points], "o-", label=f"{algo} (deterministic)")
    ax_reward.axhline(rnd["mean_reward"], color="grey", ls="--", label="random policy")
    ax_reward.set(xlabel="timesteps", ylabel="mean evaluation episode reward")
    ax_rate.plot(steps, [p["hit_rate"] for p in points], "o-", label=f"hit rate ({algo})")
    ax_rate.plot(steps, [p["return_rate"] for p in points], "s-", label=f"return rate ({algo})")
    ax_rate.axhline(rnd["hit_rate"], color="grey", ls="--", label="hit rate (random)")
    ax_rate.set(xlabel="timesteps", ylabel="fraction of episodes", ylim=(-0.02, 1.02))
    for ax in (ax_reward, ax_rate):
        ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:g}k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    wall = points[-1]["wall_time_s"] if points else 0
    fig.suptitle(
        f"{summary['rl_config_file']}, seed {summary['seed']},"
        f" {summary['torch_threads']} torch thread(s), {wall:.0f} s training wall time"
        f" (CPU shared with other work: load"
        f" {summary['load_average_at_end'][0]:.1f})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
