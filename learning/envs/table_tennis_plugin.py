"""learning/TableTennis-v0 behind the env interface (learning.plugins.envs): its roles,
spaces and metrics. Nothing else in the package knows them.

- roles: reward_config, hysr_config, pam_config (their keys and checks:
  learning.envs.table_tennis_roles); env_kwargs: none (its settings are those files);
- spaces: 22 float64 observations, 8 float32 actions (the env builds its spaces from
  these, so the config checks size stable-baselines3's buffers without a simulation);
- metrics: ``hit_rate`` (share of evaluation episodes whose ball was hit), ``return_rate``
  (hit and passed within evaluation_target_radius of target_position) and
  ``mean_min_distance_ball_racket``; a job reports ``mean_hit_rate``,
  ``mean_return_rate`` and ``std_return_rate``.

Imports no MuJoCo: the env module is imported when an env is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError
from learning.envs.table_tennis_roles import ENV_ROLES, validate_env_roles
from learning.envs.table_tennis_spaces import (
    ACTION_DTYPE,
    ACTION_SIZE,
    OBSERVATION_DTYPE,
    OBSERVATION_SIZE,
)
from learning.plugins.envs import EnvPlugin, EnvSpaces, SpaceLayout

TABLE_TENNIS_ID = "learning/TableTennis-v0"
SPACES = EnvSpaces(
    observation=SpaceLayout((OBSERVATION_SIZE,), OBSERVATION_DTYPE, 8, OBSERVATION_SIZE),
    action=SpaceLayout((ACTION_SIZE,), ACTION_DTYPE, 4, ACTION_SIZE),
)


class TableTennisPlugin(EnvPlugin):
    env_id = TABLE_TENNIS_ID
    roles = ENV_ROLES
    metrics = {"hit_rate": ("mean",), "return_rate": ("mean", "std")}

    def validate_roles(self, roles: Mapping[str, Any], files: Mapping[str, Path | str]
                       ) -> dict[str, dict[str, Any]]:
        return validate_env_roles(dict(roles), dict(files))

    def check_env_kwargs(self, env_kwargs: dict[str, Any], file: Path) -> None:
        if env_kwargs:
            raise ConfigError(file, f"env_kwargs.{next(iter(env_kwargs))}",
                              f"{TABLE_TENNIS_ID} takes no env_kwargs",
                              "{} (its settings are the files of "
                              + ", ".join(ENV_ROLES) + ")")

    def make_env(self, roles: Mapping[str, dict[str, Any]], env_kwargs: Mapping[str, Any],
                 render_mode: str | None = None) -> Any:
        from learning.envs.table_tennis_v0 import TableTennisEnv

        return TableTennisEnv(roles["reward_config"], roles["hysr_config"],
                              roles["pam_config"], render_mode=render_mode)

    def spaces(self, env_kwargs: Mapping[str, Any]) -> EnvSpaces:
        return SPACES

    def evaluation_metrics(self, final_infos: list[dict[str, Any]],
                           target_radius: float | None) -> dict[str, Any]:
        """hit_rate: share of episodes whose last info says "hit"; return_rate: share hit
        and returned to within ``target_radius`` (m) of the target
        ("min_distance_ball_target"; none without a radius)."""
        hits, returns, racket_distances = [], [], []
        for info in final_infos:
            hit = bool(info.get("hit", False))
            target_distance = info.get("min_distance_ball_target")
            hits.append(hit)
            returns.append(hit and target_distance is not None and target_radius is not None
                           and target_distance <= target_radius)
            if info.get("min_distance_ball_racket") is not None:
                racket_distances.append(float(info["min_distance_ball_racket"]))
        return {
            "hit_rate": _mean(hits),
            "return_rate": _mean(returns),
            "mean_min_distance_ball_racket": (
                _mean(racket_distances) if racket_distances else None),
        }


def _mean(values: list) -> float:
    import numpy as np

    return float(np.mean(values))
