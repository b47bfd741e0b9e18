"""``lttfs zoo HYPERPARAMS.yml ENV_NAME --out DIR`` (``python -m learning.config.zoo``): a
tuned entry of rl-baselines3-zoo's hyperparameter files as a config folder of this suite.

The entry is converted by learning/config/zoo_entry.py; its name is the env id unless
``--env-id`` names another (the zoo's MuJoCo entries say v3/v4, the installed gymnasium
has v5). DIR gets config.json, rl_config.json and rl_common_config.json, checked by
:func:`learning.config.loading.load_configs` (as the learner checks them, without the
machine's checks) before DIR appears: they are written into a temporary folder beside it,
which is then renamed. An existing DIR is replaced only with ``--force``. Exit codes: 0
written, 2 nothing written (a config error, DIR exists), 73 DIR could not be written.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError
from learning.config.sb3_schema import ALGORITHMS
from learning.config.zoo_entry import (
    SCHEDULE_CHOICES,
    Conversion,
    algorithm_of,
    convert_entry,
    read_entry,
)
from learning.contract import EXIT_CONFIG, EXIT_OK, EXIT_WRITE_FAILED

PROG = "python -m learning.config.zoo"
ROLE_FILES = {"rl_config": "rl_config.json", "rl_common_config": "rl_common_config.json"}
MAIN_FILE = "config.json"


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The parser of ``lttfs zoo``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Convert one tuned entry of an rl-baselines3-zoo hyperparameter file"
        " (hyperparams/ppo.yml, sac.yml) to a config folder: DIR/config.json, rl_config.json"
        " and rl_common_config.json, checked as the learner checks them before DIR appears.",
        epilog="Exit codes: 0 written, 2 nothing written (a config error, or DIR exists),"
        " 73 DIR could not be written. Train it with: lttfs train DIR/config.json",
    )
    parser.add_argument("hyperparams", metavar="HYPERPARAMS.yml",
                        help="a zoo hyperparameter file; its name says the algorithm (ppo.yml,"
                        " sac.yml) unless --algorithm does")
    parser.add_argument("entry", metavar="ENV_NAME",
                        help="the entry to convert, e.g. Pendulum-v1; also the env id unless"
                        " --env-id names another")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the config folder to write (refused if it exists, unless --force)")
    parser.add_argument("--env-id", metavar="ID",
                        help="the env to train: an id of gymnasium's registry (e.g. Hopper-v5"
                        " for the zoo's Hopper-v4 entry) or of an env plug-in without config"
                        " roles of its own")
    parser.add_argument("--algorithm", choices=ALGORITHMS,
                        help="the file's algorithm (default: the file's name)")
    parser.add_argument("--schedules", choices=SCHEDULE_CHOICES, default="error",
                        help="a lin_<value> schedule (rl_config takes constants): an error"
                        " (default), or 'initial': write the schedule's initial value")
    parser.add_argument("--force", action="store_true", help="replace an existing DIR")
    return parser


def check_env(conversion: Conversion, from_option: bool) -> None:
    """The env id must name an env without config roles of its own that builds with the
    installed packages (its env_kwargs too); an older version than gymnasium's newest gets
    a note. ConfigError naming the entry (or --env-id) if not."""
    from learning.plugins.envs import UnknownEnvError, env_plugin
    from learning.plugins.gymnasium_envs import gymnasium_ids_like

    env_id = conversion.rl_common["env_id"]
    key = "(--env-id)" if from_option else conversion.name
    newest = next(iter(gymnasium_ids_like(env_id)), None)
    use_newest = f"; {newest} is: pass --env-id {newest}" if newest else ""
    try:
        plugin = env_plugin(env_id)
    except UnknownEnvError as e:
        raise ConfigError(conversion.yaml_file, key, f"{env_id} is not registered by the"
                          f" installed gymnasium{use_newest}",
                          "" if newest else "--env-id ID: an id of gymnasium's registry") from e
    if plugin.roles:
        raise ConfigError(conversion.yaml_file, key, f"{env_id} has config roles of its own"
                          f" ({', '.join(plugin.roles)}), which a zoo entry does not give",
                          "an env without roles of its own, e.g. an id of gymnasium's registry")
    try:
        plugin.check_env_kwargs(conversion.rl_common.get("env_kwargs", {}),
                                conversion.yaml_file)
    except ConfigError as e:
        where = f"{conversion.name}.{e.key}" if e.key.startswith("env_kwargs") else key
        builds = f"; {newest} builds: pass --env-id {newest}" if newest != env_id and newest \
            else ""
        raise ConfigError(conversion.yaml_file, where, e.problem + builds, e.valid) from e
    if newest and newest != env_id:
        conversion.notes.append(f"env_id {env_id}: gymnasium's newest version is {newest}"
                                f" (--env-id {newest} trains that one)")


def write_config_folder(conversion: Conversion, out: Path, force: bool = False) -> None:
    """The config folder ``out``, checked before it appears (see the module docstring)."""
    if out.exists() and not (force and out.is_dir()):
        raise FileExistsError(out)
    created = [folder for folder in (out.parent, *out.parent.parents) if not folder.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    temp.mkdir()
    try:
        for name, data in ((MAIN_FILE, ROLE_FILES), (ROLE_FILES["rl_config"], conversion.rl),
                           (ROLE_FILES["rl_common_config"], conversion.rl_common)):
            (temp / name).write_text(json.dumps(data, indent=4) + "\n", encoding="utf-8")
        _check_folder(conversion, temp)
        _rename_into_place(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        for folder in created:  # the parents this call made, innermost first
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _check_folder(conversion: Conversion, folder: Path) -> None:
    """load_configs on the written folder; an error names the entry's key."""
    from learning.config.loading import load_configs

    try:
        load_configs(folder / MAIN_FILE, check_load_path=False)
    except ConfigError as e:
        role = next((role for role, name in ROLE_FILES.items() if Path(e.file).name == name),
                    None)
        first = e.key.split(".")[0].split(":")[0]
        zoo_key = {"num_timesteps": "n_timesteps"}.get(first, first) + e.key[len(first):]
        given = "" if first in conversion.entry or zoo_key in conversion.entry else \
            ", not in the entry"
        raise ConfigError(conversion.yaml_file, f"{conversion.name}.{zoo_key}",
                          f"{e.problem} (as {role or 'config'}.{e.key} of the converted"
                          f" config{given})", e.valid) from e


def _rename_into_place(temp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(temp, out)
        return
    old = out.parent / f".{out.name}.{secrets.token_hex(4)}.old"
    os.rename(out, old)
    try:
        os.rename(temp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def report(conversion: Conversion, out: Path) -> str:
    """What was written and each key converted non-trivially, one per line."""
    files = ", ".join((MAIN_FILE, *ROLE_FILES.values()))
    lines = [f"wrote {out}: {files} (entry {conversion.name} of {conversion.yaml_file},"
             f" {conversion.algorithm}, env {conversion.rl_common['env_id']})"]
    lines += [f"  {note}" for note in conversion.notes]
    lines.append(f"train it: lttfs train {out / MAIN_FILE}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run ``lttfs zoo``; ``argv`` without the program name (default: sys.argv[1:])."""
    args = make_parser(prog).parse_args(argv)
    out, yaml_file = Path(args.out), Path(args.hyperparams)
    try:
        if out.exists() and not args.force:
            raise FileExistsError(out)
        entry: dict[str, Any] = read_entry(yaml_file, args.entry)
        algorithm = algorithm_of(yaml_file, args.algorithm)
        conversion = convert_entry(yaml_file, args.entry, entry, algorithm,
                                   args.env_id or args.entry, args.schedules)
        import gymnasium  # noqa: F401 - first: its import adds a warnings filter of its own

        with warnings.catch_warnings():  # gymnasium's "out of date": check_env notes it
            warnings.simplefilter("ignore", DeprecationWarning)
            check_env(conversion, from_option=bool(args.env_id))
            write_config_folder(conversion, out, args.force)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except FileExistsError:
        kind = "folder" if out.is_dir() else "file"
        print(f"{prog}: {out} exists (a {kind}): nothing written; pass --force to replace a"
              " folder", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"{prog}: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    print(report(conversion, out))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
