"""How a learner attempt ended, from its exit status and the files it left.

Outcomes (learning.contract): "ok" (trained and evaluated: run_info.json "finished" with
evaluation.json, progress.csv and the model, whatever the exit; a learner killed after it
wrote them has finished), "interrupted" (stopped by a signal; it left a model to continue
from if run_info.json says so), "config_error" (exit code 2: the job fails at once),
"no_space" and "write_failed" (exit codes 74 and 73: the learner could not write; the job
stops instead of retrying on the same disk), "diverged" (exit code 65, or a non-finite
evaluation reward) and "failed" (any other exit, killed by a signal, or finished without
evaluation.json / progress.csv / model; or stalled: the job stopped it because it made no
progress, learning.job.stall). Diverged and failed attempts are retried.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from learning.config.checks import is_number
from learning.contract import (
    EVALUATION_FILE,
    EXIT_CONFIG,
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_NO_SPACE,
    EXIT_OK,
    EXIT_WRITE_FAILED,
    LOG_DIR,
    MODEL_FILE,
    OUTCOME_CONFIG_ERROR,
    OUTCOME_DIVERGED,
    OUTCOME_FAILED,
    OUTCOME_INTERRUPTED,
    OUTCOME_NO_SPACE,
    OUTCOME_OK,
    OUTCOME_WRITE_FAILED,
    PROGRESS_FILE,
    RUN_DIVERGED,
    RUN_FAILED,
    RUN_FINISHED,
    RUN_INFO_FILE,
    RUN_INTERRUPTED,
    STALLED_PREFIX,
    STDERR_FILE,
)
from learning.job.learner import LearnerExit


class Outcome(NamedTuple):
    kind: str  # one of contract.OUTCOMES
    message: str
    timesteps: int | None  # the model's timesteps (ok, or interrupted with a model)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stderr_tail(run_dir: Path, lines: int = 3) -> str:
    try:
        text = (run_dir / STDERR_FILE).read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def classify_files(run_dir: Path) -> Outcome:
    """The outcome that the files the learner left in ``run_dir`` show."""
    logs = run_dir / LOG_DIR
    info = read_json(logs / RUN_INFO_FILE) or {}
    status = info.get("status")
    model_saved = (run_dir / MODEL_FILE).is_file()
    if status == RUN_FINISHED:
        evaluation = read_json(logs / EVALUATION_FILE)
        if evaluation is None:
            return Outcome(OUTCOME_FAILED, "finished without evaluation.json", None)
        if not (logs / PROGRESS_FILE).is_file():
            return Outcome(OUTCOME_FAILED, "finished without a progress log (progress.csv)",
                           None)
        if not model_saved:
            return Outcome(OUTCOME_FAILED, f"finished without saving {MODEL_FILE}", None)
        if not is_number(evaluation.get("mean_reward")):
            return Outcome(OUTCOME_DIVERGED,
                           f"evaluation mean_reward is {evaluation.get('mean_reward')}", None)
        return Outcome(OUTCOME_OK, "", info.get("num_timesteps"))
    if status == RUN_INTERRUPTED and model_saved:
        return Outcome(OUTCOME_INTERRUPTED, info.get("message", ""), info.get("num_timesteps"))
    if status == RUN_DIVERGED:
        return Outcome(OUTCOME_DIVERGED, info.get("message", ""), None)
    if status == RUN_FAILED and info.get("exit_code") in WRITE_OUTCOMES:
        return write_outcome(run_dir, info["exit_code"])
    tail = stderr_tail(run_dir)
    return Outcome(OUTCOME_FAILED, f"run_info status {status!r}" + (f": {tail}" if tail else ""),
                   None)


#: the learner's exit codes for a failed write, and their outcomes
WRITE_OUTCOMES = {EXIT_NO_SPACE: OUTCOME_NO_SPACE, EXIT_WRITE_FAILED: OUTCOME_WRITE_FAILED}


def write_outcome(run_dir: Path, code: int) -> Outcome:
    """no_space or write_failed, with the learner's line ``cannot write PATH: reason``
    (from run_info.json or stderr.log; both may be on the disk that failed)."""
    info = read_json(run_dir / LOG_DIR / RUN_INFO_FILE) or {}
    message = info.get("message") if info.get("status") == RUN_FAILED else None
    message = message or stderr_tail(run_dir, lines=1)
    if not message:
        reason = ("no space left on device" if code == EXIT_NO_SPACE
                  else "a file could not be written")
        message = (f"cannot write {run_dir}: {reason} (exit code {code}; the learner's"
                   f" {STDERR_FILE} is on the same disk)")
    return Outcome(WRITE_OUTCOMES[code], message, None)


def classify(run_dir: Path, result: LearnerExit, stop_requested: bool) -> Outcome:
    """The outcome of a learner that ended with ``result``."""
    code = result.exit_code
    if code == EXIT_OK:
        return classify_files(run_dir)
    found = classify_files(run_dir)
    if found.kind == OUTCOME_OK:  # it finished and saved everything, then ended this way
        return found._replace(message=f"finished, then {result.describe()}")
    if code in WRITE_OUTCOMES:
        return write_outcome(run_dir, code)
    if code == EXIT_INTERRUPTED:
        if found.kind == OUTCOME_INTERRUPTED:
            return found
        return Outcome(OUTCOME_INTERRUPTED,
                       f"exit code 75 without a saved model: {found.message}", None)
    if code == EXIT_CONFIG:
        return Outcome(OUTCOME_CONFIG_ERROR, stderr_tail(run_dir), None)
    if stop_requested:
        if found.kind == OUTCOME_INTERRUPTED:  # the signal came after it saved
            return found
        # killed before its signal handler was installed
        return Outcome(OUTCOME_INTERRUPTED,
                       f"{result.describe()} after the job forwarded a stop signal", None)
    if code == EXIT_DIVERGED:
        return Outcome(OUTCOME_DIVERGED, stderr_tail(run_dir), None)
    tail = stderr_tail(run_dir)
    return Outcome(OUTCOME_FAILED, result.describe() + (f": {tail}" if tail else ""), None)


def stalled(found: Outcome, why: str, result: LearnerExit) -> Outcome:
    """The outcome of a learner the job stopped because it made no progress (``why``),
    ``found`` the outcome its exit and files show: a failed attempt (``stalled: ...``),
    continued from the model it saved on the job's SIGTERM or its last checkpoint, unless
    it had finished meanwhile or could not write (the disk is the problem then)."""
    if found.kind in (OUTCOME_OK, OUTCOME_NO_SPACE, OUTCOME_WRITE_FAILED):
        return found
    return Outcome(OUTCOME_FAILED, f"{STALLED_PREFIX} {why}; the job stopped it"
                   f" ({result.describe()})", None)
