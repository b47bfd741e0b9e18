"""What every wing shares: config roles, file names, exit codes, attempt outcomes and the
run folder name (built and parsed here, nowhere else).

The learner (``python -m learning``, :mod:`learning.training`) writes the files, the job
(:mod:`learning.job`) reads them to classify attempts and score runs, the sweep
(:mod:`learning.sweep`) reads them back for inspection. This module imports nothing
heavy, so every wing, on a compute node or a login node, can import it.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import NamedTuple

#: The package folder (learning/).
PACKAGE_DIR = Path(__file__).resolve().parent
#: The project directory: the folder holding the package. In a repository checkout (an
#: editable install, PYTHONPATH) that is the repository root with run_learning.py,
#: config/ and hp_optim/, from which sweeps and jobs run; in an installed package
#: (``pip install .``), the folder it was installed into (site-packages).
PROJECT_DIR = PACKAGE_DIR.parent
#: The cluster_utils job script.
JOB_SCRIPT = "run_learning.py"
#: The job script that runs it inside a Singularity/Apptainer container (learning.container).
CONTAINER_SCRIPT = "run_singularity.py"
#: This project's job scripts (an hp_optim file's ``script_relative_path`` names one).
JOB_SCRIPTS = (JOB_SCRIPT, CONTAINER_SCRIPT)
#: Where a built package carries its copies of the repository's config/*.json and
#: hp_optim/config_templates_*.json (same layout, so the templates' ``../config/`` paths
#: hold); made by setup.py's build step, absent from a checkout.
PACKAGED_DEFAULTS_DIR = PACKAGE_DIR / "defaults"
#: True when the package runs from a repository checkout: PROJECT_DIR holds run_learning.py
#: and config/config.json.
IN_CHECKOUT = (PROJECT_DIR / JOB_SCRIPT).is_file() and (
    PROJECT_DIR / "config" / "config.json").is_file()
#: The shipped defaults, found in this order: (1) the repository checkout the package runs
#: from (its config/ and hp_optim/, edited there), (2) the copies inside the installed
#: package (PACKAGED_DEFAULTS_DIR).
DEFAULTS_ROOT = PROJECT_DIR if IN_CHECKOUT else PACKAGED_DEFAULTS_DIR
#: The shipped default configs (reward.json, hysr.json, pam.json, ppo_default.json, ...).
DEFAULT_CONFIG_DIR = DEFAULTS_ROOT / "config"
#: The shipped templates files of the jobs (config_templates_ppo.json, ...).
DEFAULT_TEMPLATES_DIR = DEFAULTS_ROOT / "hp_optim"
#: The default main config: PPO defaults (``lttfs train`` without CONFIG trains on it).
DEFAULT_CONFIG = DEFAULT_CONFIG_DIR / "config.json"

# --------------------------------------------------------------------------- configs
#: The config roles of every env, last in config.json: the algorithm's and the run's. The
#: env that rl_common_config chooses adds its own roles before them, each named
#: ``<name>_config`` (learning.plugins.envs: EnvPlugin.roles, config_roles).
COMMON_ROLES = ("rl_config", "rl_common_config")
#: rl_config keys the job sets for every learner attempt (they are not parameters).
#: the job parameter that chooses a job's env: a grid over it makes envs a sweep axis
ENV_PARAMETER = "config.rl_common_config.env_id"
JOB_MANAGED_RL_KEYS = ("log_path", "save_path", "load_path")

# --------------------------------------------------------------------------- exit codes
#: ``python -m learning``: trained and evaluated.
EXIT_OK = 0
#: config error, nothing trained (also a standalone job's config error).
EXIT_CONFIG = 2
#: a job that exits to be started again (cluster_utils' RETURN_CODE_FOR_RESUME).
EXIT_RESUME = 3
#: NaN or infinity in a reward, an observation or the network (EX_DATAERR).
EXIT_DIVERGED = 65
#: a file could not be written for another reason than space: read-only file system,
#: permission denied, I/O error (EX_CANTCREAT). Temporary files removed; the last saved
#: model is intact. Retrying on the same machine fails the same way.
EXIT_WRITE_FAILED = 73
#: no space left on the device (ENOSPC) or the user's disk quota is exhausted (EDQUOT)
#: while writing (EX_IOERR). Temporary files removed; the last saved model is intact; free
#: space, then continue from it. The learner's stderr may be empty: it is on that disk too.
EXIT_NO_SPACE = 74
#: stopped by SIGTERM/SIGUSR1 with the model saved: continue from it (EX_TEMPFAIL).
EXIT_INTERRUPTED = 75
#: errno values that mean "no space left" (EXIT_NO_SPACE): the disk, or the user's quota
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

# --------------------------------------------------------------------------- a learner's files
#: in the learner's rl_config.log_path
PROGRESS_FILE = "progress.csv"
EVALUATION_FILE = "evaluation.json"
RUN_INFO_FILE = "run_info.json"
EPISODES_FILE = "episodes.csv"
CONFIGS_DIR = "configs"  # the role configs as the learner used them
#: TensorBoard event files (progress.csv's scalars and the evaluation); a continued run
#: with the same log_path adds files here, which TensorBoard shows as one run
TENSORBOARD_DIR = "tensorboard"
#: progress.csv columns (stable-baselines3's logger keys)
TIMESTEPS_COLUMN = "time/total_timesteps"
EPREWMEAN_COLUMN = "rollout/ep_rew_mean"
#: run_info.json "status" values
RUN_RUNNING, RUN_FINISHED, RUN_INTERRUPTED, RUN_DIVERGED, RUN_FAILED = (
    "running", "finished", "interrupted", "diverged", "failed",
)


def replay_buffer_path(model_path: str | Path) -> Path:
    """Where a SAC model's replay buffer is stored: beside the model, <stem>_replay_buffer.pkl."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + "_replay_buffer.pkl")


def normalization_path(model_path: str | Path) -> Path:
    """Where the VecNormalize statistics of a model trained with rl_config.normalize are
    stored: beside the model, <stem>_vecnormalize.pkl (a model without one was trained on
    raw observations and rewards)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + "_vecnormalize.pkl")


# --------------------------------------------------------------------------- a job's files
SETTINGS_FILE = "settings.json"  # cluster_utils writes the job's parameters here
METRICS_FILE = "metrics.csv"  # cluster_utils' finalize_job
PARAM_CHOICE_FILE = "param_choice.csv"  # cluster_utils' finalize_job
STATE_FILE = "job_state.json"  # the job's restart state (learning.records.job_state)
#: <results_dir>/<name>/failed_jobs.json: every failed job of a sweep with the last lines of
#: its own error output, written by the launcher (learning.launch.failures; format:
#: learning.records.failed_jobs)
FAILED_JOBS_FILE = "failed_jobs.json"
JOB_LOG_FILE = "job.log"
#: flock'ed by the job process while it runs (learning.job.lock): one copy per working dir
JOB_LOCK_FILE = "job.lock"
#: in every run folder: the merged configs, the learner's command and output
RUN_CONFIG_DIR = "config"
COMMAND_FILE = "command.txt"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
#: made empty by the job before it starts the learner, whose modification time the learner
#: sets to now about once a second while it trains and evaluates (its heartbeat: a learner
#: whose heartbeat stops is stalled, learning.job.stall)
HEARTBEAT_FILE = "heartbeat"
#: names the learner's heartbeat file (absolute path) in the environment the job gives it;
#: unset (a learner run by hand): no heartbeat. Read in learning.training.callbacks only
HEARTBEAT_FILE_VARIABLE = "LTTFS_HEARTBEAT_FILE"
#: the learner's rl_config paths inside its run folder
LOG_DIR = "logs"
MODEL_FILE = "model.zip"

# --------------------------------------------------------------------------- attempt outcomes
#: How one learner attempt ended (job_state.json "outcome"; learning.job.outcomes).
OUTCOME_OK = "ok"  # trained and evaluated
OUTCOME_INTERRUPTED = "interrupted"  # stopped by a signal; model saved if "model_saved"
OUTCOME_CONFIG_ERROR = "config_error"  # exit code 2: the job fails at once
OUTCOME_DIVERGED = "diverged"  # NaN: a failed attempt
OUTCOME_FAILED = "failed"  # crashed, killed, stalled or left incomplete files: a failed attempt
#: how the message of a failed attempt starts whose learner made no progress for the job
#: setting learner_stall_seconds, so that the job stopped it (learning.job.stall)
STALLED_PREFIX = "stalled:"
#: the learner could not write (exit codes 74, 73): the job stops, not a failed attempt
OUTCOME_NO_SPACE = "no_space"  # no space left on the device (or quota)
OUTCOME_WRITE_FAILED = "write_failed"  # read-only file system, permission denied, I/O error
OUTCOMES = (OUTCOME_OK, OUTCOME_INTERRUPTED, OUTCOME_CONFIG_ERROR, OUTCOME_DIVERGED,
            OUTCOME_FAILED, OUTCOME_NO_SPACE, OUTCOME_WRITE_FAILED)
#: attempts whose logs are not part of their run's result (unless the run continued from a
#: checkpoint the attempt saved: its "model_saved")
FAILED_OUTCOMES = (OUTCOME_FAILED, OUTCOME_DIVERGED, OUTCOME_CONFIG_ERROR, OUTCOME_NO_SPACE,
                   OUTCOME_WRITE_FAILED)

# --------------------------------------------------------------------------- run folders
_RUN_DIR = re.compile(r"^run_(\d+)\.(\d+)-(\d+)$")


class RunDirName(NamedTuple):
    """``run_<run>.<iteration>-<attempt>``: one learner attempt of one chained iteration."""

    run: int
    iteration: int
    attempt: int

    def __str__(self) -> str:
        return f"run_{self.run}.{self.iteration}-{self.attempt}"

    @classmethod
    def parse(cls, name: str) -> RunDirName | None:
        """The parts of a run folder name, None if ``name`` is not one."""
        match = _RUN_DIR.match(name)
        return cls(*(int(g) for g in match.groups())) if match else None


def run_dir_name(run: int, iteration: int, attempt: int) -> str:
    return str(RunDirName(run, iteration, attempt))


# --------------------------------------------------------------------------- intermediate results
#: cluster_utils puts every job's working dir in <results_dir>/<name>/working_directories/
WORKING_DIRS_FOLDER = "working_directories"
#: one JSON record per job of a sweep, <results_dir>/<name>/intermediate_results/job_<id>.json
#: (learning.records.intermediate): the job's running estimate after every training
#: iteration, and whether it was stopped early; outside working_directories, which
#: cluster_utils deletes
INTERMEDIATE_DIR = "intermediate_results"
#: the record of a job run outside a sweep (standalone), in its working dir
INTERMEDIATE_FILE = "intermediate_results.json"
#: population-based training: one lineage per job of a sweep,
#: <results_dir>/<name>/pbt_lineage/job_<id>.json (learning.records.lineage), the sweep's
#: global file <results_dir>/<name>/pbt_lineage.json, a standalone job's in its working dir
LINEAGE_DIR = "pbt_lineage"
SWEEP_LINEAGE_FILE = "pbt_lineage.json"
LINEAGE_FILE = "pbt_lineage.json"
#: in a job's working dir: the checkpoints it copied from a donor after iteration k,
#: pbt_<k>/run_<run>/model.zip (and the files that travel with it)
PBT_CHECKPOINT_DIR = "pbt_{iteration}"
#: metrics.csv: 1.0 for a job the pruning rule stopped early (its metrics are then its
#: estimate after ``trained_iterations`` training iterations), 0.0 otherwise
STOPPED_EARLY_METRIC = "stopped_early"
TRAINED_ITERATIONS_METRIC = "trained_iterations"
#: names the module ``python -m MODULE CONFIG.json`` a job starts as its learner; unset:
#: ``learning``. A benchmark/testing hook only (benchmarks/search_efficiency.py substitutes
#: a stand-in learner that writes the same files); read in learning.job.learner only
LEARNER_MODULE_VARIABLE = "LTTFS_LEARNER_MODULE"
