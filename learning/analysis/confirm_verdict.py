"""Confirmation, part 3: the verdict. The original and the confirmed ranking side by side,
and whether the sweep's winner holds up on fresh seeds (and beats the shipped defaults,
when they were confirmed too) by more than the noise: two standard errors of the
difference of two confirmed means. A PBT winner is named with its schedule, which its
confirmation replayed (learning.analysis.confirm_replay)."""

from __future__ import annotations

import pandas as pd

from learning.analysis.baseline import LABEL as BASELINE_LABEL
from learning.analysis.confirm_plan import float_or_none, name_of
from learning.analysis.confirm_replay import describe_schedule, schedule_of
from learning.analysis.display import format_value, printable, short_names
from learning.analysis.results import Sweep
from learning.analysis.stats import standard_error_of_difference


def confirmation_table(sweep: Sweep, confirmed: pd.DataFrame) -> pd.DataFrame:
    """Display form: original and confirmed ranking side by side."""
    names = short_names([p for p in sweep.params if p in confirmed.columns])
    replayed = any(schedule_of(r) for _, r in confirmed.iterrows())
    rows = []
    for _, r in confirmed.iterrows():
        rank = r["original_rank"]
        row = {"original rank": "-" if pd.isna(rank) else int(rank), "job": r["job_id"]}
        if replayed:  # a PBT sweep: the schedule each confirmation replayed
            schedule = schedule_of(r)
            row["schedule"] = describe_schedule(schedule) if schedule else "-"
        for param, name in names.items():
            row[name] = format_value(r[param])
        row["sweep mean"] = format_value(float_or_none(r["original_mean"]))
        row["sweep std"] = format_value(float_or_none(r["original_std"]))
        row["confirmed mean"] = format_value(float_or_none(r["confirmed_mean"]))
        row["confirmed std"] = format_value(float_or_none(r["confirmed_std"]))
        row["confirmed runs"] = " ".join(
            "failed" if v is None else format_value(v) for v in r["confirmed_values"]
        ) or "-"
        rank = r["confirmed_rank"]
        row["confirmed rank"] = "-" if pd.isna(rank) else int(rank)
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(confirmed: pd.DataFrame, minimize: bool = False) -> str:
    """Does the sweep's winner hold up on fresh seeds (and beat the shipped defaults, if
    they were confirmed too)? A few sentences."""
    text = _winner_verdict(confirmed)
    default = confirmed[confirmed["job_id"] == BASELINE_LABEL]
    if not default.empty and pd.notna(confirmed.iloc[0]["confirmed_mean"]):
        text += " " + _baseline_verdict(confirmed.iloc[0], default.iloc[0], minimize)
    return text


def _baseline_verdict(first: pd.Series, default: pd.Series, minimize: bool) -> str:
    if pd.isna(default["confirmed_mean"]):
        return "The shipped defaults have no confirmed result."
    lead = first["confirmed_mean"] - default["confirmed_mean"]
    lead = -lead if minimize else lead
    se = _standard_error(first, default)
    noise = f", {lead / se:.1f} standard errors" if se else ""
    if lead > 0 and se and beyond_noise(lead, se):
        judged = "it beats them by more than the noise"
    elif lead > 0:
        judged = "its lead is within the noise"
    else:
        judged = "it does not beat them"
    return (f"Against the shipped defaults (the optimized parameters at their templates'"
            f" values, same seeds): {format_value(lead)}{noise}; {judged}.")


def _winner_verdict(confirmed: pd.DataFrame) -> str:
    first = confirmed.iloc[0]
    done = confirmed[confirmed["confirmed_mean"].notna()]
    if pd.isna(first["confirmed_rank"]):
        return "The sweep's winner has no confirmed result."
    rank = int(first["confirmed_rank"])
    if rank == 1:
        text = f"{_the_winner(first)} also ranks first of {len(done)} on fresh seeds."
        # the shipped defaults get a sentence of their own (_baseline_verdict)
        others = done[(done["confirmed_rank"] > 1) & (done["job_id"] != BASELINE_LABEL)]
        others = others.sort_values("confirmed_rank")
        rival = others.iloc[0] if len(others) else None
    else:
        rival = done.loc[done["confirmed_rank"] == 1].iloc[0]
        text = (f"{_the_winner(first)} ranks {rank} of {len(done)} on "
                f"fresh seeds; {_ranked_name(rival)} does best: the sweep's ranking was"
                " partly luck.")
    if rival is not None:
        gap = abs(first["confirmed_mean"] - rival["confirmed_mean"])
        se = _standard_error(first, rival)
        if se:
            within = "larger than the noise" if beyond_noise(gap, se) else "within noise"
            text += (f" The confirmed gap between job {first['job_id']} and"
                     f" {name_of(rival['job_id'])}, "
                     f"{format_value(gap)}, is {gap / se:.1f} standard errors ({within}; "
                     "more seeds narrow it).")
    return text


def contender_name(row: pd.Series) -> str:
    """"job 4", "the shipped defaults", or "job 4 (schedule: learning_rate 0.001 -> 0.0003
    from iteration 1)" for a PBT winner, whose confirmation replayed that schedule."""
    schedule = schedule_of(row)
    name = name_of(row["job_id"])
    return f"{name} (schedule: {describe_schedule(schedule)})" if schedule else name


def _ranked_name(row: pd.Series) -> str:
    """"job 4 (sweep rank 2)", with a PBT winner's schedule "...(sweep rank 2; schedule: ...)"."""
    rank = f"sweep rank {format_value(row['original_rank'])}"
    schedule = schedule_of(row)
    if schedule:
        rank += f"; schedule: {describe_schedule(schedule)}"
    return f"{name_of(row['job_id'])} ({rank})"


def _the_winner(first: pd.Series) -> str:
    if schedule_of(first):
        return f"The sweep's winner, {contender_name(first)},"
    return f"The sweep's winner (job {first['job_id']})"


#: a confirmed gap counts as real from this many standard errors of the difference on
NOISE_STANDARD_ERRORS = 2


def beyond_noise(gap: float, se: float) -> bool:
    return gap >= NOISE_STANDARD_ERRORS * se


def _standard_error(a: pd.Series, b: pd.Series) -> float | None:
    """Standard error of the difference of two confirmed means (std over N runs each)."""
    values = [float_or_none(row[k]) for row in (a, b) for k in ("confirmed_std", "confirmed_runs")]
    if any(v is None for v in values):
        return None
    std_a, n_a, std_b, n_b = values
    return standard_error_of_difference(std_a, int(n_a), std_b, int(n_b))


def print_confirmation(sweep: Sweep, confirmed: pd.DataFrame) -> None:
    """The confirmed table and the verdict; for a sweep over envs one of each per env."""
    from learning.analysis.confirm_envs import by_env

    for i, (env, sub, part) in enumerate(by_env(sweep, confirmed)):
        seeds = part["confirmed_runs"].dropna()
        n = int(seeds.max()) if len(seeds) else "?"
        where = "" if env is None else f" on env {printable(env)}"
        print(("\n" if i else "") + f"confirmation{where} ({n} fresh seeds per setting) of "
              f"the top {len(part)} setting(s), {printable(sweep.metric)}:")
        with pd.option_context("display.width", 250):
            print(confirmation_table(sub, part).to_string(index=False))
        print(verdict(part, sweep.minimize))
