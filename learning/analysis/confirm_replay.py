"""Confirmation of a population-based-training (PBT) sweep: each winner's schedule replayed.

A PBT job's settings changed during its training (learning.plugins.population), so its
sampled values alone are not what won: what won is the schedule that trained its final
model, the values of each training iteration along its ancestry (its own after its last
exploit, before that the donor's, and so on: learning.analysis.lineage, from
``<results>/pbt_lineage/job_<id>.json``). Its confirmation job replays that schedule from
scratch on the fresh seeds (as Ray Tune replays a PBT trial), and exploits nothing, so a
confirmation means the same for PBT as for constant settings:

- a contender's settings lose every ``pbt.*`` option (no ``pbt.mutations``: its jobs
  must not exploit each other) and carry its schedule as the job setting ``pbt.schedule``
  (:func:`with_schedule`), one of the keys the grid varies together (a whole list is a
  grid value like any other: cluster_utils checks only the zipped tuple of values, and
  the job reads its settings as data, learning.parameter_dict); two jobs with the same
  values but different schedules are different contenders;
- the shipped defaults (``--baseline``) train without a schedule: ``pbt.schedule`` ``[]``
  replays nothing (:func:`every_contender_scheduled`);
- the plan entry keeps the schedule, and the table and the verdict name a contender
  "job 4 (schedule: learning_rate 0.001 -> 0.0003 from iteration 1)" (:func:`describe_schedule`;
  iterations count from 0, as in the run folders ``run_<r>.<iteration>-<attempt>``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from learning.analysis.display import format_value, short_names
from learning.analysis.lineage import SweepLineages
from learning.contract import LINEAGE_DIR

SCHEDULE_KEY = "pbt.schedule"
#: a plan entry's schedule (confirm_plan.json), for a PBT contender
PLAN_SCHEDULE = "schedule"


class ReplayError(Exception):
    """A PBT job's schedule cannot be read back; the message names the job and file."""


def with_schedule(lineages: SweepLineages, sweep, view, settings: dict[str, Any]
                  ) -> dict[str, Any]:
    """A sweep job's flattened settings as a confirmation contender: without its pbt.*
    options, and with the schedule that trained its final model (``pbt.schedule``) if it
    trained with PBT (``lineages``: the sweep's, learning.analysis.lineage)."""
    # (a confirmation's defaults beside PBT winners replayed the empty schedule: none)
    was_population = any(key.startswith("pbt.") and value not in ([], "[]")
                         for key, value in settings.items())
    plain = {key: value for key, value in settings.items() if not key.startswith("pbt.")}
    if not was_population:
        return plain
    schedule = lineages.replay_schedule(view.job_id)
    if schedule is None:
        unknown = [s.job_id for s in lineages.ancestry(view.job_id) if not s.known]
        whose = f"its donor job {unknown[0]}'s lineage" if unknown else "its lineage"
        path = sweep.root / LINEAGE_DIR / f"job_{unknown[0] if unknown else view.job_id}.json"
        raise ReplayError(f"job {view.job_id} (rank {view.rank}) trained with"
                          f" population-based training, but {whose} {path} is missing or"
                          " unreadable: the schedule that trained its final model cannot be"
                          " replayed")
    plain[SCHEDULE_KEY] = [dataclasses.asdict(entry) for entry in schedule]
    return plain


def schedule_key(settings: dict[str, Any]) -> str:
    return json.dumps(settings.get(SCHEDULE_KEY), sort_keys=True, default=str)


def is_constant(settings: dict[str, Any]) -> bool:
    """No schedule, or one whose values never change (its values are the settings')."""
    schedule = settings.get(SCHEDULE_KEY) or []
    return len({json.dumps(e["values"], sort_keys=True) for e in schedule}) <= 1


def every_contender_scheduled(contenders: list[tuple]) -> list[tuple]:
    """Where a contender replays a schedule, the others (the defaults) get ``[]``: none."""
    if not any(SCHEDULE_KEY in settings for _, settings in contenders):
        return contenders
    return [(view, {**settings, SCHEDULE_KEY: settings.get(SCHEDULE_KEY) or []})
            for view, settings in contenders]


def schedule_of(entry) -> list[dict] | None:
    """A plan entry's (or confirmed row's) schedule, None for constant settings."""
    schedule = entry.get(PLAN_SCHEDULE) if hasattr(entry, "get") else None
    return schedule if isinstance(schedule, list) and schedule else None


def describe_schedule(schedule: list[dict]) -> str:
    """"learning_rate 0.001 -> 0.0003 from iteration 1; gamma 0.99 throughout"."""
    names = list(dict.fromkeys(name for entry in schedule for name in entry["values"]))
    short = short_names(names)
    parts = []
    for name in names:
        steps, last = [], object()
        for entry in schedule:
            value = entry["values"].get(name, last)
            if value is last or (steps and value == last):
                continue
            text = format_value(value)
            steps.append(text if not steps else f"{text} from iteration {entry['from_iteration']}")
            last = value
        parts.append(f"{short[name]} {' -> '.join(steps)}"
                     + (" throughout" if len(steps) == 1 else ""))
    return "; ".join(parts)

