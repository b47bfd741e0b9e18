"""The documentation's generated pages, read from the code so that they cannot drift.

Each function below returns one Markdown (MyST) fragment; :func:`write_generated` writes
them to ``docs/_generated/`` when Sphinx starts (``builder-inited``), and the pages include
them (``{include}``). What comes from where:

- ``rl_config.md``: :func:`learning.config.rl.rl_schema` (the keys and JSON types, read
  from stable-baselines3's constructor signatures), ``RL_RANGES``, our keys' defaults
  (``RL_VEC_ENV_DEFAULTS``, ``RL_DEVICE_DEFAULT``, ``RL_REQUIRED_KEYS``), the policy and
  normalization defaults (learning.config.policy), stable-baselines3's own defaults and
  ``:param:`` descriptions, and the shipped templates (config/ppo_default.json, ...);
- ``rl_common_config.md``: ``RL_COMMON_SCHEMA`` (valid values) and ``RL_COMMON_DEFAULTS``;
- ``env_roles.md``: the table tennis's roles: keys, JSON types and defaults of the shipped
  files (config/reward.json, hysr.json, pam.json, which are the schema), ``BOUNDS`` and
  ``RELATIONS`` of learning.envs.table_tennis_roles;
- ``job_settings.md``: learning.job.settings (``KNOWN_SETTINGS``, the fields of
  ``JobOptions`` with their defaults and ``#:`` comments), learning.job.pruning and the
  registered pruning rules' declared options (learning.plugins.pruning);
- ``table_tennis_v0.md``: the env class's docstring (its spec, written in Markdown).

Only the *meaning* of our own keys is written by hand, in the ``*_MEANINGS`` tables here;
a meaning for a key the code no longer has is an error (the build fails under ``-W``), a
key without one shows the code's own description.

Nothing here imports Sphinx at module level, so the tests (tests/docs/) call these
functions without it.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SB3_DOCS = "https://stable-baselines3.readthedocs.io/en/master/modules/{algorithm}.html"


class StaleMeaning(ValueError):
    """A hand-written meaning names a key the code does not have."""


# --------------------------------------------------------------------------- formatting


def code(value: Any) -> str:
    """A JSON value as inline code."""
    text = value if isinstance(value, str) and value.startswith("`") else json.dumps(value)
    return text if text.startswith("`") else f"`{text}`"


def cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def interval(low: float | None, high: float | None, low_open: bool = False,
             high_open: bool = False) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


KIND_NAMES = {"integer": "integer", "number": "number", "boolean": "boolean",
              "string": "string", "list": "list", "object": "object", "null": "null"}


def kinds_text(kinds: set[str]) -> str:
    names = [KIND_NAMES[k] for k in KIND_NAMES if k in kinds]
    if "number" in names and "integer" in names:
        names.remove("integer")
    return " or ".join(names)


def json_type(value: Any) -> str:
    """The JSON type of a shipped default, lists with their length and item type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        items = {json_type(v) for v in value}
        if items <= {"integer", "number"} and items:
            item = "numbers"
        elif len(items) == 1:
            item = next(iter(items)).replace("list of", "lists of")
            item = item if item.startswith("lists") else item + "s"
        else:
            item = "values"
        return f"list of {len(value)} {item}"
    return "object"


def check_meanings(meanings: dict[str, str], keys: Iterable[str], where: str) -> None:
    stale = sorted(set(meanings) - set(keys))
    if stale:
        raise StaleMeaning(f"docs/_ext/lttfs_reference.py: meanings for {where} keys the code"
                           f" does not have: {', '.join(stale)}")


# --------------------------------------------------------------------------- rl_config

#: the meaning of rl_config's keys of this suite (stable-baselines3's own: its docstrings)
RL_MEANINGS = {
    "num_timesteps": "env steps to train in this run (more, when continuing; 0 with a "
                     "`load_path` evaluates that model without training it)",
    "log_path": "folder of the run's logs (relative to the current directory); not a file",
    "save_path": "where the model is saved; ends in `.zip`, not a folder",
    "load_path": '`""` (train from scratch) or a model `.zip` of the same algorithm to '
                 "continue from",
    "num_layers": "hidden layers of every network whose `policy_kwargs.net_arch` entry is "
                  "null; required then (with `num_hidden`), an error when net_arch gives every"
                  " network (they would be ignored); both null or both set",
    "num_hidden": "units per hidden layer of those networks (see `num_layers`)",
    "policy_kwargs": "the policy's arguments, each optional, SB3's defaults filled in: see "
                     "the next table",
    "normalize": "stable-baselines3's VecNormalize around the training env: `false`, `true` "
                 "(observations and rewards) or an object (see below). Its statistics are "
                 "saved beside the model, reloaded when continuing (a job's next iteration "
                 "or retry included) and used, frozen, by the evaluation, `lttfs render` and "
                 "`benchmarks/learning_curve.py`",
    "n_envs": "training envs stepped together (a vectorized env); PPO's `n_steps` is *per "
              "env* (a rollout has `n_steps` x `n_envs` steps). The evaluation always uses "
              "one env. A continued SAC model needs the "
              "`n_envs` its replay buffer was filled with",
    "vec_env": '`"dummy"`: all envs in the learner\'s process, one after the other; '
               '`"subproc"`: one worker process per env (they ignore SIGTERM/SIGUSR1, the '
               "learner saves and closes them)",
    "device": "where the networks train: the CPU unless a config names another (SB3's own "
              '`"auto"` would put a small MLP on a GPU, where it runs slower); `"cuda"` '
              "without a visible GPU is a config error before training. Recorded in "
              "run_info.json",
}
#: policy_kwargs' keys
POLICY_MEANINGS = {
    "net_arch": "hidden layer sizes per network: actor `pi`, critic `vf` (PPO) or Q-networks "
                "`qf` (SAC); or one list for all; an entry null: `num_layers` x `num_hidden`."
                " Written in the object form",
    "activation_fn": "activation of the hidden layers; torch spellings (`nn.ReLU`) are "
                     "accepted and written as `relu`",
    "log_std_init": "initial log standard deviation of the actions (SAC: with `use_sde` "
                    "only)",
    "ortho_init": "orthogonal initialization of the networks",
}
#: normalize's object form (VecNormalize's own argument names)
NORMALIZE_MEANINGS = {
    "norm_obs": "normalize the observations (running mean and variance)",
    "norm_reward": "normalize the rewards (their statistics discount with `gamma`)",
    "clip_obs": "clip normalized observations to +- this",
    "clip_reward": "clip normalized rewards to +- this",
}


def sb3_parameter_docs(cls: type) -> dict[str, str]:
    """``:param name: text`` of a stable-baselines3 class docstring, text on one line."""
    params: dict[str, str] = {}
    name = None
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        match = re.match(r":param (\w+):\s*(.*)", line.strip())
        if match:
            name = match.group(1)
            params[name] = match.group(2)
        elif name and line.strip() and not line.strip().startswith(":"):
            params[name] += " " + line.strip()
        else:
            name = None
    return params


def first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence (up to a NOTE or IMPORTANT), shortened to ``limit``."""
    text = re.split(r"\s(?:NOTE|IMPORTANT):", text)[0]
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z(]|\s*$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 3].rstrip() + "..."


def markdown_text(text: str) -> str:
    """Plain text from a docstring as Markdown: reST literals as code, no stray markup."""
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    text = re.sub(r"(?<![`\w])([*<>_])", r"\\\1", text)
    return text


def shipped_templates() -> dict[str, dict[str, Any]]:
    """algorithm -> the shipped rl_config template (config/<algorithm>_default.json)."""
    from learning.contract import DEFAULT_CONFIG_DIR

    return {algorithm: json.loads((DEFAULT_CONFIG_DIR / f"{algorithm}_default.json")
                                  .read_text()) for algorithm in ("ppo", "sac")}


def our_rl_keys() -> tuple[str, ...]:
    from learning.config import rl

    schema = rl.rl_schema("ppo")
    sb3 = set(inspect.signature(_algorithm_class("ppo").__init__).parameters)
    sb3 |= set(inspect.signature(_algorithm_class("sac").__init__).parameters)
    ours = [*rl.RL_EXTRA_KEYS, *rl.RL_WRAPPER_KEYS, *rl.RL_VEC_ENV_DEFAULTS, "device"]
    return tuple(dict.fromkeys(k for k in ours if k in schema or k not in sb3))


def _algorithm_class(algorithm: str) -> type:
    from learning.config.sb3_limits import algorithm_class

    return algorithm_class(algorithm)


def rl_default(key: str) -> str:
    from learning.config import rl

    if key in rl.RL_REQUIRED_KEYS:
        return "required"
    if key in rl.RL_VEC_ENV_DEFAULTS:
        return code(rl.RL_VEC_ENV_DEFAULTS[key])
    if key == "device":
        return code(rl.RL_DEVICE_DEFAULT)
    if key in ("num_layers", "num_hidden"):
        return code(None)
    if key == "policy_kwargs":
        return "SB3's, per algorithm (below)"
    if key == "normalize":
        return code(False)
    return ""


def rl_valid(key: str, kinds: set[str]) -> str:
    from learning.config import rl

    if key in rl.RL_RANGES:
        number = f"{kinds_text(kinds - {'null'})} {interval(*rl.RL_RANGES[key])}".strip()
        return f"null or {number}" if "null" in kinds else number
    if key == "vec_env":
        return " or ".join(code(k) for k in rl.VEC_ENV_KINDS)
    if key == "device":
        return markdown_text(rl.DEVICE_CHOICES)
    if key == "num_timesteps":
        return "integer >= 1 (>= 0 with a `load_path`)"
    return kinds_text(kinds)


def rl_config_reference() -> str:
    from learning.config import policy, rl

    check_meanings(RL_MEANINGS, our_rl_keys(), "rl_config")
    check_meanings(POLICY_MEANINGS, {k for d in policy.POLICY_DEFAULTS.values() for k in d}
                   | {"net_arch"}, "policy_kwargs")
    check_meanings(NORMALIZE_MEANINGS, policy.NORMALIZE_SCHEMA, "normalize")
    schema = rl.rl_schema("ppo")
    templates = shipped_templates()
    out = ["### The suite's own keys", "",
           "Valid for both algorithms. *Default* is what validation fills in when the key is"
           " left out; *shipped* is the value in `config/ppo_default.json`.", ""]
    rows = [(f"`{key}`", rl_valid(key, schema[key]), rl_default(key),
             code(templates["ppo"][key]) if key in templates["ppo"] else "",
             RL_MEANINGS.get(key, ""))
            for key in our_rl_keys()]
    out += [table(("key", "valid values", "default", "shipped", "meaning"), rows), ""]

    out += ["### `policy_kwargs`", "",
            "An object; every key optional, and no other policy argument is settable. "
            "Networks per algorithm: "
            + "; ".join(f"{a.upper()} " + ", ".join(f"`{n}`" for n in nets)
                        for a, nets in policy.NETWORKS.items()) + ".", ""]
    keys = ["net_arch", *dict.fromkeys(k for d in policy.POLICY_DEFAULTS.values() for k in d)]
    rows = []
    for key in keys:
        defaults = [code(policy.POLICY_DEFAULTS[a][key]) if key in policy.POLICY_DEFAULTS[a]
                    else ("null (per network)" if key == "net_arch" else "not settable")
                    for a in ("ppo", "sac")]
        valid = (" ".join(f"`{name}`" for name in policy.ACTIVATIONS)
                 if key == "activation_fn" else "")
        rows.append((f"`{key}`", *defaults, valid, POLICY_MEANINGS.get(key, "")))
    out += [table(("key", "PPO default", "SAC default", "valid values", "meaning"), rows), ""]

    off = policy.normalize_off()
    out += ["### `normalize`", "",
            "`false` (the default) is the object with every `norm_*` false, `true` the "
            "object with the defaults below; validation writes the object form.", ""]
    rows = [(f"`{key}`", markdown_text(valid), code(policy.NORMALIZE_ON[key]), code(off[key]),
             NORMALIZE_MEANINGS.get(key, ""))
            for key, valid in policy.NORMALIZE_SCHEMA.items()]
    out += [table(("key", "valid values", "with `true`", "with `false`", "meaning"), rows), ""]

    for algorithm in ("ppo", "sac"):
        out += sb3_arguments_section(algorithm, templates[algorithm])
    return "\n".join(out)


def sb3_arguments_section(algorithm: str, template: dict[str, Any]) -> list[str]:
    from learning.config import rl

    cls = _algorithm_class(algorithm)
    schema = rl.rl_schema(algorithm)
    parameters = inspect.signature(cls.__init__).parameters
    docs = sb3_parameter_docs(cls)
    ours = set(our_rl_keys())
    rows = []
    for key, kinds in schema.items():
        if key in ours:
            continue
        default = parameters[key].default
        rows.append((f"`{key}`", rl_valid(key, kinds),
                     code(default) if default is not inspect.Parameter.empty else "",
                     code(template[key]) if key in template else "",
                     markdown_text(first_sentence(docs.get(key, "")))))
    unsettable = [name for name in parameters
                  if name not in schema and name not in ("self", "_init_setup_model")]
    name = cls.__name__
    return [f"### {name}: stable-baselines3's arguments", "",
            f"When `rl_common_config.algorithm` is `\"{algorithm}\"`: the arguments of "
            f"`{name}.__init__` that take JSON values, under their own names (a misspelled "
            f"key gets a \"did you mean\"). *Default* is stable-baselines3's, *shipped* "
            f"`config/{algorithm}_default.json`'s; the meaning is the first sentence of "
            f"[stable-baselines3's documentation]({SB3_DOCS.format(algorithm=algorithm)}). "
            "Every value is a constant: the schedules that stable-baselines3's text "
            "mentions (\"can be a function\") cannot be given in JSON.",
            "", table(("key", "valid values", "default", "shipped", "meaning"), rows), "",
            "Not settable: " + ", ".join(f"`{n}`" for n in unsettable)
            + " (set by the learner: `seed` is `rl_common_config.random_seed`, "
            "`tensorboard_log` always `log_path/tensorboard`).", ""]


# --------------------------------------------------------------------------- rl_common

RL_COMMON_MEANINGS = {
    "algorithm": "the algorithm; rl_config's keys are checked against it",
    "random_seed": "null: a seed is picked and recorded in run_info.json",
    "log_episodes": "also write episodes.csv (one row per training episode)",
    "evaluation_episodes": "episodes of the final deterministic evaluation",
    "evaluation_target_radius": "a hit counts as returned within this distance of "
                                "`target_position` (other envs' plug-ins get it too)",
    "torch_threads": "torch's threads (`torch.set_num_threads`); a job also sets the "
                     "learner's `OMP_NUM_THREADS`, `MKL_NUM_THREADS` and "
                     "`OPENBLAS_NUM_THREADS` to it and gives the learner that many CPUs",
    "checkpoint_interval": "save the model to save_path every this many timesteps while "
                           "training; a job retries a killed learner from its last "
                           "checkpoint. PPO: best a multiple of `n_steps * n_envs`",
    "env_id": "the env, by the id of a registered env plug-in",
    "env_kwargs": "the env's keyword arguments (the table tennis takes none: its settings "
                  "are its role files)",
    "env_plugins": "modules imported before `env_id` is looked up, each registering env "
                   "plug-ins",
}


def rl_common_reference() -> str:
    from learning.config import rl
    from learning.contract import DEFAULT_CONFIG_DIR

    check_meanings(RL_COMMON_MEANINGS, rl.RL_COMMON_SCHEMA, "rl_common_config")
    shipped = json.loads((DEFAULT_CONFIG_DIR / "rl_common.json").read_text())
    rows = [(f"`{key}`", markdown_text(valid),
             code(rl.RL_COMMON_DEFAULTS[key]) if key in rl.RL_COMMON_DEFAULTS else "required",
             code(shipped[key]) if key in shipped else "",
             RL_COMMON_MEANINGS.get(key, ""))
            for key, valid in rl.RL_COMMON_SCHEMA.items()]
    return "\n".join([
        "*Default* is what validation fills in when the key is left out; *shipped* is "
        "`config/rl_common.json` (SAC: `config/rl_common_sac.json`).", "",
        table(("key", "valid values", "default", "shipped", "meaning"), rows), ""])


# --------------------------------------------------------------------------- env roles

ENV_MEANINGS = {
    "reward_config": {
        "normalization_constant": "c in the reward of a hit, max(1 - (d/c)^0.75, rtt_cap)",
        "rtt_cap": "the lowest reward of a hit",
        "smash": "multiply a hit's reward by the ball's top speed after it (then cap)",
    },
    "hysr_config": {
        "robot_position": "the arm's shoulder [x, y, z] (m)",
        "table_position": "centre of the table's playing surface [x, y, z] (m)",
        "target_position": "where a return should pass closest [x, y, z] (m)",
        "world_boundaries.min": "lower corner of the box the ball must stay in (m)",
        "world_boundaries.max": "upper corner of that box (m)",
        "mujoco_time_step": "the physics step (s)",
        "algo_time_step": "the control step (s): one env step",
        "starting_pressures": "muscle pressures at every reset, [agonist, antagonist] per "
                              "joint (bar)",
        "reference_posture": "pressures under which the arm settles once at construction: "
                             "every episode starts in that posture (bar)",
        "pressure_change_range": "bar per control step of an action of 1",
        "ball_launch_position_min": "launch position, drawn uniformly between min and max "
                                    "(m)",
        "ball_launch_position_max": "see ball_launch_position_min",
        "ball_launch_velocity_min": "launch velocity, drawn uniformly between min and max "
                                    "(m/s)",
        "ball_launch_velocity_max": "see ball_launch_velocity_min",
        "trajectory": "-1: a new launch every episode; N >= 0: replay launch N",
        "nb_steps_per_episode": "truncate an episode after this many control steps "
                                "(0: no limit)",
    },
    "pam_config": {
        "min_pressures": "lowest pressure per muscle, action order (bar)",
        "max_pressures": "highest pressure per muscle (bar)",
        "torque_per_bar_ago": "G_ago per joint (N m/bar)",
        "torque_per_bar_antago": "G_antago per joint (N m/bar)",
        "stiffness_per_bar": "k per joint (N m/rad/bar)",
        "neutral_angles": "q0 per joint (rad)",
        "joint_damping": "d per joint (N m s/rad)",
    },
}


def flat_items(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of a role's file, nested objects flattened."""
    items = []
    for key, value in data.items():
        if isinstance(value, dict):
            items += flat_items(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def env_roles_reference() -> str:
    from learning.envs import table_tennis_roles as roles

    out = []
    for role in roles.ENV_ROLES:
        items = flat_items(roles.load_default(role))
        keys = [key for key, _ in items]
        check_meanings(ENV_MEANINGS.get(role, {}), keys, role)
        missing = [key for key in [*roles.BOUNDS[role], *(k for k, _ in roles.RELATIONS[role])]
                   if key not in keys]
        if missing:
            raise StaleMeaning(f"learning.envs.table_tennis_roles: {role} names keys its"
                               f" default file does not have: {', '.join(missing)}")
        bounds = roles.BOUNDS[role]
        rows = [(f"`{key}`", json_type(value), code(value),
                 ("each item " if isinstance(value, list) else "") + bounds[key].text()
                 if key in bounds else "",
                 ENV_MEANINGS.get(role, {}).get(key, ""))
                for key, value in items]
        out += [f"### `{role}` (`config/{roles.DEFAULT_FILES[role]}`)", "",
                table(("key", "JSON type", "shipped default", "range", "meaning"), rows), ""]
        if roles.RELATIONS[role]:
            out += ["Between keys:", ""]
            out += [f"- `{key}`: {markdown_text(rule)}" for key, rule in roles.RELATIONS[role]]
            out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- job settings

#: what a job setting does, beyond the code's own comment (learning/job/settings.py)
JOB_NOTES = {
    "config": "`config.config_templates` (required): the templates file mapping the roles "
              "to template files; relative: to the current directory, else the project "
              "directory. `config.<role>.<key>`: one template key "
              "([parameter addressing](jobs.md#parameter-addressing))",
    "learning_runs_per_job": "seeds: `random_seed` (template or parameter) + run index, or "
                             "a random base if null; recorded, distinct within a job",
    "training_iterations": "each trains `rl_config.num_timesteps`, continuing the saved "
                           "model",
    "max_attempts": "then the job fails, naming every attempt",
    "local_cpu_pinning": "one machine only: take as many CPUs as the job was given from "
                         "those no other job holds and pin the job's learners to them, one "
                         "per CPU (cluster_utils' local mode draws CPUs at random, and two "
                         "learners on one core halve each other)",
    "learner_stall_seconds": "the heartbeat is renewed at most once a second while a "
                             "learner trains or evaluates; a stalled learner is logged, "
                             "stopped (SIGTERM, SIGCONT, SIGKILL after 10 s) and retried as a"
                             " failed attempt from its last saved model",
    "learner_startup_seconds": "imports on a slow file system; the larger of the two counts",
    "working_dir": "set by cluster_utils (standalone: a fresh folder under results/jobs/)",
    "id": "set by cluster_utils",
    "singularity": "read by the container wrapper run_singularity.py "
                   "([Singularity](singularity.md))",
    "intermediate_evaluation_episodes": "episodes of the deterministic evaluation after "
                                        "every training iteration but the last (the "
                                        "intermediate metric); left out: rl_common_config's"
                                        " `evaluation_episodes`",
    "pruning": "`pruning.<key>`: the pruning rule and its options, below. Off by default: on "
               "when `pruning.rule` names a rule or a rule's switch option is set; leave out "
               "what you do not set (cluster_utils takes no null in fixed_params). Needs "
               "`training_iterations` >= 2",
    "pbt": "`pbt.<key>`: population-based training, below ([PBT](pbt.md)). Off by default: "
           "on when `pbt.mutations` names parameters. Needs `training_iterations` >= 2; not "
           "with `pruning.*`",
}


def attribute_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comments of a dataclass's fields (on the field's line or above it), as
    Sphinx's autodoc reads them."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:
        if not isinstance(node, ast.AnnAssign | ast.Assign):
            continue
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        line = lines[node.lineno - 1]
        if "#:" in line:
            comments[target.id] = line.split("#:", 1)[1].strip()
            continue
        above = []
        i = node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#:"):
            above.insert(0, lines[i].strip()[2:].strip())
            i -= 1
        if above:
            comments[target.id] = " ".join(above)
    return comments


def job_settings_reference() -> str:
    from dataclasses import MISSING, fields

    from learning.job import pruning as job_pruning
    from learning.job import settings
    from learning.plugins import pruning

    check_meanings(JOB_NOTES, settings.KNOWN_SETTINGS, "job settings")
    options = {f.name: f for f in fields(settings.JobOptions)}
    comments = attribute_comments(settings.JobOptions)
    pruning_comments = attribute_comments(job_pruning.PruningOptions)
    rows = []
    for key in settings.KNOWN_SETTINGS:
        note = JOB_NOTES.get(key, "")
        if key in options:
            field = options[key]
            default = code(field.default) if field.default is not MISSING else "required"
            if key in settings.OPTION_DEFAULTS:
                valid = "integer >= 1"
            elif key in settings.STALL_DEFAULTS:
                valid = "number of seconds >= 1"
            elif isinstance(field.default, bool):
                valid = "boolean"
            else:
                valid = str(field.type)
            meaning = "; ".join(t for t in (comments.get(key, ""), note) if t)
        elif key == "intermediate_evaluation_episodes":
            default, valid = "`null`", "null or integer >= 1"
            meaning = note or pruning_comments.get(key, "")
        else:
            default, valid, meaning = "", "", note
        rows.append((f"`{key}`", valid, default, meaning or
                     "(described in learning/job/settings.py)"))
    out = ["*Default* is what a job takes when the setting is left out.", "",
           table(("setting", "valid values", "default", "meaning"), rows), ""]

    general = {"rule": (code(pruning.DEFAULT_RULE), "the rule, by name; naming one turns "
                        "pruning on with its options' defaults"),
               "module": ("`null`", "a module to import first, which registers more rules "
                          "(importable where the jobs run)"),
               "metric": (code(job_pruning.DEFAULT_METRIC), pruning_comments.get("metric", "")),
               "minimize": (code(job_pruning.DEFAULT_MINIMIZE),
                            pruning_comments.get("minimize", ""))}
    rows = [(f"`pruning.{key}`", *general.get(key, ("", "")))
            for key in pruning.GENERAL_KEYS]
    out += ["### `pruning.*`: every rule", "",
            table(("setting", "default", "meaning"), rows), ""]
    for rule in pruning.registered_rules():
        doc = inspect.getdoc(rule) or ""
        rows = [(f"`pruning.{o.name}`", o.expected(), code(o.default), o.help)
                for o in rule.options]
        switch = (f" Setting `pruning.{rule.switch}` alone also turns it on."
                  if rule.switch else "")
        out += [f"### `pruning.rule`: `\"{rule.name}\"`", "",
                markdown_text(" ".join(doc.split())) + switch, "",
                table(("option", "valid values", "default", "meaning"), rows), ""]
    from learning.plugins import population

    rows = [(f"`pbt.{key}`", code(population.DEFAULTS[key]) if key in population.DEFAULTS
             else "`null`", population.HELP[key]) for key in population.KEYS]
    out += ["### `pbt.*`: population-based training", "",
            table(("setting", "default", "meaning"), rows), ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- the env


def env_spec() -> str:
    """TableTennisEnv's docstring (Markdown: its spec), the summary line as a lead."""
    from learning.envs.table_tennis_v0 import TableTennisEnv

    doc = inspect.getdoc(TableTennisEnv) or ""
    summary, _, body = doc.partition("\n")
    return f"**{summary.strip()}**\n{body}\n"


def is_markdown_docstring(lines: list[str]) -> bool:
    """A docstring written in Markdown (``## Heading`` lines), like the env's spec."""
    return any(line.startswith("## ") for line in lines)


# --------------------------------------------------------------------------- Sphinx

GENERATED: dict[str, Callable[[], str]] = {
    "rl_config.md": rl_config_reference,
    "rl_common_config.md": rl_common_reference,
    "env_roles.md": env_roles_reference,
    "job_settings.md": job_settings_reference,
    "table_tennis_v0.md": env_spec,
}
HEADER = "<!-- generated by docs/_ext/lttfs_reference.py from the code: do not edit -->\n\n"


def write_generated(folder: Path) -> list[Path]:
    """Write every generated fragment into ``folder``; rewrite only what changed (so that
    Sphinx rereads only the pages that include it). Returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, generate in GENERATED.items():
        path = folder / name
        text = HEADER + generate()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def _builder_inited(app) -> None:
    write_generated(Path(app.srcdir) / "_generated")


def _markdown_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc reads docstrings as reST; the env's spec is Markdown and has its own page."""
    if is_markdown_docstring(lines):
        summary = lines[0] if lines else ""
        lines[:] = [summary, "", "Its docstring is the env's specification, rendered on the"
                    " page :doc:`/environment`.", ""]


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", _builder_inited)
    app.connect("autodoc-process-docstring", _markdown_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
