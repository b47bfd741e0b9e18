"""progress.csv in stable-baselines3's CSV format, appended to across chained runs, and
the same scalars (plus the evaluation's) as TensorBoard event files in
log_path/tensorboard.

SB3's ``CSVOutputFormat`` opens its file with ``w+`` and so truncates the log of the
previous training iteration. :class:`AppendingCSVOutputFormat` keeps the rows and the
header already there, adds columns the way SB3 does (earlier rows get empty cells), and
orders new columns by name so that two runs with one seed write identical headers.

TensorBoard: every logger dump also goes to stable-baselines3's TensorBoardOutputFormat
(at step = the model's timesteps; SB3 leaves its time/* counters out), and the final
evaluation is written as ``eval/<key>`` at the model's timesteps. A continued run writes
new event files into the same folder, which TensorBoard shows as one run.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import (
    CSVOutputFormat,
    HumanOutputFormat,
    KVWriter,
    Logger,
    TensorBoardOutputFormat,
    filter_excluded_keys,
)

from learning.contract import PROGRESS_FILE, TENSORBOARD_DIR
from learning.training.output_errors import writing

#: evaluation.json numbers that describe the evaluation rather than measure the policy;
#: every other number (the common mean_reward, std_reward, mean_episode_length and the
#: env plug-in's own, such as the table tennis's hit_rate) goes to TensorBoard as eval/<key>
EVALUATION_SETTINGS = ("episodes", "evaluation_target_radius", "evaluation_seed",
                       "num_timesteps")


class AppendingCSVOutputFormat(CSVOutputFormat):
    """CSVOutputFormat that appends to an existing file instead of truncating it."""

    def __init__(self, filename: str | Path):  # not super().__init__(): it truncates
        path = self.path = Path(filename)
        with writing(path):
            self.file = open(path, "r+" if path.exists() else "w+")
        header = self.file.readline().rstrip("\n")
        self.keys: list[str] = next(csv.reader([header])) if header else []
        self.file.seek(0, os.SEEK_END)
        self.separator = ","
        self.quotechar = '"'

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        shown = filter_excluded_keys(key_values, key_excluded, "csv")
        new_keys = sorted(shown.keys() - set(self.keys))
        with writing(self.path):
            if new_keys:
                self._add_columns(new_keys)
            super().write(key_values, key_excluded, step)

    def close(self) -> None:
        with writing(self.path):
            super().close()

    def _add_columns(self, new_keys: list[str]) -> None:
        self.file.seek(0)
        lines = self.file.readlines()
        self.keys.extend(new_keys)
        self.file.seek(0)
        self.file.truncate()
        self.file.write(",".join(self.keys) + "\n")
        for line in lines[1:]:
            self.file.write(line.rstrip("\n") + self.separator * len(new_keys) + "\n")
        self.file.flush()


def make_logger(log_path: str | Path, verbose: int) -> Logger:
    """SB3 logger writing log_path/progress.csv (appending), log_path/tensorboard and, if
    verbose, stdout."""
    formats: list[KVWriter] = [
        AppendingCSVOutputFormat(Path(log_path) / PROGRESS_FILE),
        TensorBoardOutputFormat(str(Path(log_path) / TENSORBOARD_DIR)),
    ]
    if verbose >= 1:
        formats.append(HumanOutputFormat(sys.stdout))
    return Logger(folder=str(log_path), output_formats=formats)


def log_evaluation(log_path: str | Path, evaluation: dict[str, Any], step: int) -> None:
    """The evaluation's scalars as eval/<key> at ``step`` in log_path/tensorboard."""
    values = {
        f"eval/{key}": float(value)
        for key, value in evaluation.items()
        if key not in EVALUATION_SETTINGS and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }
    writer = TensorBoardOutputFormat(str(Path(log_path) / TENSORBOARD_DIR))
    try:
        writer.write(values, {key: None for key in values}, step)
    finally:
        writer.close()
