"""Population-based training (PBT): the rule by which a job, at the end of a training
iteration, exploits a better job's checkpoint and explores its settings (as Ray Tune's
``PopulationBasedTraining``, decentralized like the pruning rules of
learning.plugins.pruning: every job decides for itself from the other jobs' records).

The job settings ``pbt.*`` (fixed params of the hp_optim file):

- ``pbt.mutations``: the parameters that may change during training (names of the
  sweep's optimized_params / hyperparam_list, ``config.rl_config.<key>``); a non-empty
  list turns PBT on;
- ``pbt.quantile_fraction`` (0.25): a job in the bottom share of the jobs that recorded
  the iteration exploits one drawn from the top share (each share at most half);
- ``pbt.min_jobs`` (2): other jobs needed at an iteration before a job exploits;
- ``pbt.resample_probability`` (0.25), ``pbt.factors`` ([0.8, 1.2]): how a value is
  explored (:func:`explore`);
- ``pbt.metric`` / ``pbt.minimize``: what the jobs compare (any metric the job reports;
  it may differ from the sweep's metric_to_optimize, e.g. a dense reward);
- ``pbt.schedule``: instead of the above, replay a schedule of settings (the
  confirmation of a PBT winner: :class:`ScheduleEntry` as data); an empty one (``[]``)
  replays nothing: PBT is off (the shipped defaults beside PBT winners in a confirmation).

The job (learning.job.population) copies the checkpoint, records the lineage and trains
on; this module only reads settings and decides. It imports nothing heavy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from learning.config.checks import is_integer, is_number

DEFAULTS = {"quantile_fraction": 0.25, "min_jobs": 2, "resample_probability": 0.25,
            "factors": [0.8, 1.2], "metric": "mean_eval_reward", "minimize": False}
KEYS = ("mutations", "schedule", *DEFAULTS)
#: what each setting means (the docs' job-settings reference shows it)
HELP = {
    "mutations": "the parameters that may change during training (names of the sweep's"
                 " optimized_params or hyperparam_list, `config.rl_config.<key>`); a"
                 " non-empty list turns PBT on",
    "schedule": "instead: a schedule to replay, `[{\"from_iteration\": 0, \"values\":"
                " {...}}, ...]` (the confirmation of a PBT winner sets it); `[]` replays nothing:"
                " PBT off",
    "quantile_fraction": "a job in this bottom share of the jobs that recorded an iteration"
                         " exploits one of the top share; at most 0.5",
    "min_jobs": "other jobs that recorded the iteration before a job exploits",
    "resample_probability": "a mutated value is drawn again from its sweep distribution with"
                            " this probability, else multiplied by one of `pbt.factors`",
    "factors": "the factors a value is multiplied by (kept inside its bounds; a Discrete"
               " value moves to the next option, down for < 1, up for > 1)",
    "metric": "the job metric compared (the sweep's metric_to_optimize)",
    "minimize": "whether lower is better (the sweep's minimize)",
}
#: rl_config keys that cannot change during a training: the networks' shape, the envs and
#: their statistics, the iteration's length, the run's files, the device
FROZEN_RL_KEYS = ("num_layers", "num_hidden", "policy_kwargs", "n_envs", "vec_env",
                  "normalize", "num_timesteps", "log_path", "save_path", "load_path",
                  "device", "buffer_size")
MUTABLE_PREFIX = "config.rl_config."


class PopulationError(ValueError):
    """A ``pbt.*`` setting is unusable; the message names it."""


@dataclass(frozen=True)
class ParamSpace:
    """Where one mutated parameter may go: its sweep distribution."""

    name: str
    distribution: str  #: cluster_utils' name; "Discrete" for a grid's values
    low: float | None = None
    high: float | None = None
    options: tuple[Any, ...] = ()

    @property
    def integer(self) -> bool:
        return self.distribution in ("IntNormal", "IntLogNormal")

    @property
    def log(self) -> bool:
        return self.distribution in ("TruncatedLogNormal", "IntLogNormal")

    def contains(self, value: Any) -> bool:
        if self.distribution == "Discrete":
            return any(_same(value, option) for option in self.options)
        if not is_number(value) or (self.integer and not is_integer(value)):
            return False
        return self.low <= value <= self.high

    def describe(self) -> str:
        if self.distribution == "Discrete":
            return f"one of {list(self.options)}"
        return f"{'an integer' if self.integer else 'a number'} in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class PbtOptions:
    mutations: tuple[str, ...]
    quantile_fraction: float
    min_jobs: int
    resample_probability: float
    factors: tuple[float, ...]
    metric: str
    minimize: bool
    schedule: tuple[dict[str, Any], ...] = ()  #: a schedule to replay (no exploits)

    @property
    def exploits(self) -> bool:
        return bool(self.mutations) and not self.schedule

    @property
    def enabled(self) -> bool:
        return bool(self.mutations) or bool(self.schedule)


def _same(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def mutable_problem(name: Any) -> str | None:
    """Why parameter ``name`` cannot mutate during training; None if it can."""
    if not isinstance(name, str) or not name.startswith(MUTABLE_PREFIX):
        return (f"{name!r}: only rl_config's hyperparameters mutate"
                f" ({MUTABLE_PREFIX}<key>, e.g. {MUTABLE_PREFIX}learning_rate)")
    key = name[len(MUTABLE_PREFIX):].split(".")[0].split(":")[0]
    if key in FROZEN_RL_KEYS:
        return (f"{name!r}: {key} cannot change during a training (frozen: "
                + ", ".join(FROZEN_RL_KEYS) + ")")
    return None


def read_pbt(settings: Mapping[str, Any]) -> PbtOptions | None:
    """The ``pbt.*`` settings checked (None: PBT is off); PopulationError naming the bad
    one and what is valid."""
    given = settings.get("pbt")
    if given is None:
        return None
    if not isinstance(given, Mapping):
        raise PopulationError(f"setting pbt: expected an object with {', '.join(KEYS)}, got"
                              f" {given!r}")
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise PopulationError(f"unknown setting pbt.{unknown[0]}; valid: "
                              + ", ".join(f"pbt.{key}" for key in KEYS))
    schedule = given.get("schedule")
    if schedule == [] and not given.get("mutations"):
        return None  # an empty schedule replays nothing (the defaults in a confirmation)
    values = dict(DEFAULTS, **{k: v for k, v in given.items() if v is not None})
    mutations = given.get("mutations") or []
    if not isinstance(mutations, list) or not all(isinstance(m, str) for m in mutations) \
            or len(set(mutations)) != len(mutations):
        raise PopulationError("setting pbt.mutations: expected a list of distinct parameter"
                              f" names (e.g. [\"{MUTABLE_PREFIX}learning_rate\"]), got"
                              f" {mutations!r}")
    for name in mutations:
        problem = mutable_problem(name)
        if problem:
            raise PopulationError(f"setting pbt.mutations: {problem}")
    _check_number("quantile_fraction", values, lambda v: is_number(v) and 0 < v <= 0.5,
                  "a number in (0, 0.5]")
    _check_number("min_jobs", values, lambda v: is_integer(v, 1), "an integer >= 1")
    _check_number("resample_probability", values, lambda v: is_number(v) and 0 <= v <= 1,
                  "a number in [0, 1]")
    factors = values["factors"]
    if not isinstance(factors, list) or not factors \
            or not all(is_number(f) and 0 < f and f != 1 for f in factors):
        raise PopulationError(f"setting pbt.factors: expected a non-empty list of positive"
                              f" numbers other than 1 (e.g. [0.8, 1.2]), got {factors!r}")
    if not isinstance(values["metric"], str) or not isinstance(values["minimize"], bool):
        raise PopulationError("settings pbt.metric / pbt.minimize: expected a job metric's"
                              f" name and true or false, got {values['metric']!r},"
                              f" {values['minimize']!r}")
    schedule = _read_schedule(given.get("schedule"))
    if not mutations and not schedule:
        raise PopulationError("setting pbt: give pbt.mutations (the parameters that mutate),"
                              " or pbt.schedule (a schedule to replay)")
    return PbtOptions(tuple(mutations), float(values["quantile_fraction"]),
                      int(values["min_jobs"]), float(values["resample_probability"]),
                      tuple(float(f) for f in factors), values["metric"], values["minimize"],
                      schedule)


def _check_number(key: str, values: dict[str, Any], valid: Any, expected: str) -> None:
    if not valid(values[key]):
        raise PopulationError(f"setting pbt.{key}: expected {expected}, got {values[key]!r}")


def _read_schedule(schedule: Any) -> tuple[dict[str, Any], ...]:
    """pbt.schedule: [{"from_iteration": 0, "values": {...}}, ...], from_iteration rising
    from 0 (the 0-based training iteration from which the values hold)."""
    if schedule is None:
        return ()
    expected = ('a list of {"from_iteration": i, "values": {parameter: value}}, the first'
                " from iteration 0, rising")
    if not isinstance(schedule, list) or not schedule:
        raise PopulationError(f"setting pbt.schedule: expected {expected}, got {schedule!r}")
    previous = -1
    for index, entry in enumerate(schedule):
        ok = (isinstance(entry, Mapping) and set(entry) == {"from_iteration", "values"}
              and is_integer(entry["from_iteration"], 0) and entry["from_iteration"] > previous
              and isinstance(entry["values"], Mapping))
        if not ok or (index == 0 and entry["from_iteration"] != 0):
            raise PopulationError(f"setting pbt.schedule[{index}]: {entry!r}; expected"
                                  f" {expected}")
        for name in entry["values"]:
            problem = mutable_problem(name)
            if problem:
                raise PopulationError(f"setting pbt.schedule[{index}].values: {problem}")
        previous = entry["from_iteration"]
    return tuple({"from_iteration": e["from_iteration"], "values": dict(e["values"])}
                 for e in schedule)


def space_of_definition(search: Mapping[str, Any], names: Sequence[str]) -> dict[str, ParamSpace]:
    """The space of each name from a saved sweep definition's ``search`` section
    (optimized_params: its distribution and bounds or options; hyperparam_list: its values
    as Discrete options); PopulationError for a name the sweep does not search."""
    items: dict[str, ParamSpace] = {}
    for item in search.get("optimized_params") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("param"), str):
            continue
        distribution = item.get("distribution")
        if distribution == "Discrete":
            options = item.get("options", item.get("bounds"))
            if isinstance(options, list) and options:
                items[item["param"]] = ParamSpace(item["param"], "Discrete",
                                                  options=tuple(options))
            continue
        bounds = item.get("bounds")
        if isinstance(bounds, list) and len(bounds) == 2 and all(is_number(b) for b in bounds) \
                and bounds[0] < bounds[1]:
            items[item["param"]] = ParamSpace(item["param"], str(distribution),
                                              float(bounds[0]), float(bounds[1]))
    for item in search.get("hyperparam_list") or []:
        if isinstance(item, Mapping) and isinstance(item.get("param"), str) \
                and isinstance(item.get("values"), list) and item["values"]:
            items[item["param"]] = ParamSpace(item["param"], "Discrete",
                                              options=tuple(item["values"]))
    missing = [name for name in names if name not in items]
    if missing:
        raise PopulationError(f"setting pbt.mutations: {missing[0]!r} is not a parameter the"
                              " sweep searches (optimized_params or hyperparam_list), so it"
                              f" has no bounds to stay in; searched: {', '.join(sorted(items))}")
    return {name: items[name] for name in names}


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Verdict:
    exploit: bool
    donors: tuple[int, ...]  #: the top share's job ids, best first (when exploiting)
    reason: str  #: one line for the job's log


def share_size(jobs: int, quantile_fraction: float) -> int:
    """How many jobs form the bottom (and the top) share among ``jobs``: the fraction,
    rounded up, at most half of them (so the two shares never overlap)."""
    return min(math.ceil(jobs * quantile_fraction), jobs // 2)


def decide(own: float, peers: Mapping[int, float], options: PbtOptions) -> Verdict:
    """Whether a job with value ``own`` after an iteration exploits, given the other
    jobs' values after the same iteration (by job id; NaN counts as the worst)."""
    if len(peers) < options.min_jobs:
        return Verdict(False, (), f"{len(peers)} other job(s) reached it (pbt.min_jobs"
                                  f" {options.min_jobs})")

    def goodness(value: float) -> float:
        if math.isnan(value):
            return -math.inf
        return -value if options.minimize else value

    size = share_size(len(peers) + 1, options.quantile_fraction)
    better = sum(goodness(v) > goodness(own) for v in peers.values())
    ranked = sorted(peers, key=lambda job: (-goodness(peers[job]), job))
    if size == 0 or better < len(peers) + 1 - size:
        return Verdict(False, (), f"{better} of {len(peers)} other jobs did better: not in the"
                                  f" bottom {size} (pbt.quantile_fraction"
                                  f" {options.quantile_fraction:g})")
    donors = tuple(job for job in ranked[:size] if goodness(peers[job]) > goodness(own))
    if not donors:
        return Verdict(False, (), "in the bottom share, but no job of the top share did better")
    return Verdict(True, donors, f"{better} of {len(peers)} other jobs did better: in the"
                                 f" bottom {size}; top {size}: jobs {list(donors)}")


def explore(values: Mapping[str, Any], space: Mapping[str, ParamSpace], options: PbtOptions,
            rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    """The donor's ``values`` explored: each mutated parameter resampled from its sweep
    distribution with probability ``resample_probability``, else multiplied by a factor
    drawn from ``factors`` and kept inside its bounds (integers stay integers; a Discrete
    value moves to the neighbouring option, down for a factor < 1, up for > 1). Returns
    the new values and, per parameter, how it moved (for the lineage)."""
    new, how = dict(values), {}
    for name in options.mutations:
        param = space[name]
        if rng.random() < options.resample_probability:
            new[name], how[name] = resample(param, rng), "resampled"
            continue
        factor = rng.choice(options.factors)
        new[name] = perturb(param, values[name], factor)
        how[name] = (f"option {'+1' if factor > 1 else '-1'}" if param.distribution == "Discrete"
                     else f"x{factor:g}")
    return new, how


def resample(param: ParamSpace, rng: random.Random) -> Any:
    """A draw from the parameter's sweep distribution as cluster_utils starts it: normal
    around the middle of the bounds with a quarter of their width as standard deviation
    (in log space for the Log ones), clipped to the bounds, rounded for the Int ones; a
    Discrete option uniformly."""
    if param.distribution == "Discrete":
        return rng.choice(param.options)
    low, high = (math.log(param.low), math.log(param.high)) if param.log \
        else (param.low, param.high)
    value = min(max(rng.gauss((low + high) / 2, (high - low) / 4), low), high)
    value = math.exp(value) if param.log else value
    return _in_bounds(param, value)


def perturb(param: ParamSpace, value: Any, factor: float) -> Any:
    """``value`` moved by ``factor`` within the parameter's space."""
    if param.distribution == "Discrete":
        index = next((i for i, o in enumerate(param.options) if _same(value, o)), None)
        if index is None:  # not an option (a value from before the sweep changed)
            return param.options[0]
        index = min(max(index + (1 if factor > 1 else -1), 0), len(param.options) - 1)
        return param.options[index]
    moved = value * factor
    if param.integer:
        rounded = round(moved)
        if rounded == value:  # a small integer: move by one at least
            rounded = value + (1 if factor > 1 else -1)
        moved = rounded
    return _in_bounds(param, moved)


def _in_bounds(param: ParamSpace, value: float) -> Any:
    value = min(max(value, param.low), param.high)
    if param.integer:
        return int(min(max(round(value), math.ceil(param.low)), math.floor(param.high)))
    return float(value)
