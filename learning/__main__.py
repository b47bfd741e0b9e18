"""``python -m learning [CONFIG.json] [ROLE.KEY=VALUE ...]`` (``lttfs train``): one training
run.

Loads config.json (default: the shipped PPO config, learning.contract.DEFAULT_CONFIG: the
checkout's config/config.json, else the installed package's copy; arguments that are all
overrides train on it) and the five role configs, merges the overrides (a job's parameter
addresses without ``config.``; VALUE is JSON, or a string when it is not valid JSON:
learning/config/overrides.py), validates them, trains, saves the model to
rl_config.save_path and writes progress.csv, evaluation.json, run_info.json and configs/
to rl_config.log_path (a fresh run, load_path "", replaces those of an earlier run there;
a continued run appends to progress.csv). Exit codes: 0 trained and evaluated, 2 config
error (nothing trained), 65 diverged (NaN), 73 a file could not be written (read-only,
permission), 74 no space left on device (or quota), 75 interrupted by SIGTERM/SIGUSR1
(model saved). For 73 and 74 the learner prints ``cannot write PATH: <reason>`` and leaves
no temporary files; the last saved model is intact.

The learner trains on the CPU unless rl_config names a ``device`` (learning/training/
device.py), and imports MuJoCo without an OpenGL backend whatever ``MUJOCO_GL`` says: it
never renders (learning/envs/opengl.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from learning.contract import DEFAULT_CONFIG, EXIT_CONFIG
from learning.envs.opengl import disable_opengl, restore_opengl
from learning.training.callbacks import StopRequest
from learning.training.output_errors import (
    OutputError,
    as_output_error,
    quiet_thread_write_failures,
)

PROG = "python -m learning"


def is_override(argument: str) -> bool:
    """``ROLE.KEY=VALUE`` (or ``ROLE.KEY:N=VALUE``) rather than a config file's path."""
    address, equals, _ = argument.partition("=")
    # every role, the env's own too, is named <name>_config (learning.plugins.envs)
    return bool(equals) and address.split(".", 1)[0].split(":", 1)[0].endswith("_config")


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The learner's parser (``lttfs train``, ``python -m learning``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train one table-tennis agent as configured by CONFIG (config.json).",
        epilog="Exit codes: 0 done, 2 config error, 65 diverged (NaN), 73 a file could not be "
        "written, 74 no space left on device, 75 interrupted (SIGTERM/SIGUSR1; the model is "
        "saved, run again with load_path to continue).",
    )
    parser.add_argument(
        "config", nargs="?", default=str(DEFAULT_CONFIG), metavar="CONFIG",
        help="config.json mapping the five roles to their files (default: the shipped PPO"
        " defaults, %(default)s; the other shipped configs are beside it)",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="ROLE.KEY=VALUE",
        help="set a key of a role config, addressed as in a job's parameters (without"
        " 'config.'): rl_config.learning_rate=1e-4, hysr_config.robot_position:0=0.2,"
        " rl_config.policy_kwargs.net_arch.pi=[256,256]; VALUE is JSON, or a string when"
        " it is not valid JSON",
    )
    return parser


def parse_args(argv: list[str] | None, prog: str = PROG) -> argparse.Namespace:
    args = make_parser(prog).parse_args(argv)
    if is_override(args.config):  # overrides only: train on the default config
        args.overrides.insert(0, args.config)
        args.config = str(DEFAULT_CONFIG)
    return args


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run the learner; ``argv`` without the program name (default: sys.argv[1:]).

    Called as the process entry (``argv`` None), the stop-signal handlers stay installed
    until the interpreter exits: a SIGUSR1/SIGTERM that arrives after a finished run (Slurm's
    timeout warning, say) must not kill the process with the default action and turn a
    finished run into a failed one. Called in-process with an explicit ``argv`` (tests),
    the previous handlers are restored on return.
    """
    process_entry = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv, prog)
    # Signals are caught from here on: a SIGTERM while the libraries load still ends in a
    # saved model and exit code 75.
    stop = StopRequest()
    stop.install()
    thread_hook, threading.excepthook = (
        threading.excepthook, quiet_thread_write_failures(threading.excepthook))
    # Training never renders: mujoco is imported without an OpenGL backend, whatever
    # MUJOCO_GL says (a GPU node's "egl" without libEGL must not stop it): envs/opengl.py.
    user_opengl = disable_opengl()
    try:
        from learning.config import ConfigError, ParameterError, load_configs, parse_overrides
        from learning.training.train import train

        try:
            config = load_configs(args.config, overrides=parse_overrides(args.overrides))
            return train(config, argv, stop)
        except (ConfigError, ParameterError) as e:
            # addressing names a parameter as a job does ("config.<address>")
            message = str(e).replace("parameter 'config.", "override '")
            print(f"config error: {message}", file=sys.stderr)
            return EXIT_CONFIG
        except (OutputError, OSError) as e:  # our writes, and libraries' (stdout, ...)
            error = as_output_error(e)
            if error is None:
                raise
            return report_output_error(error)
    finally:
        if process_entry:
            flush_or_drop_std_streams()
        else:
            stop.restore()
            threading.excepthook = thread_hook
            restore_opengl(user_opengl)


def report_output_error(error: OutputError) -> int:
    """Print ``cannot write PATH: <reason>`` if stderr can still be written; the exit code."""
    try:
        print(error, file=sys.stderr, flush=True)
    except OSError:
        pass  # stderr is on the full disk too: the exit code has to tell
    return error.exit_code


def flush_or_drop_std_streams() -> None:
    """Flush stdout and stderr; drop what cannot be written (a full disk).

    Python exits with code 120, whatever code it was given, when it cannot flush them at
    exit; that would hide EXIT_NO_SPACE."""
    for name in ("stdout", "stderr"):
        try:
            getattr(sys, name).flush()
        except (OSError, ValueError):
            setattr(sys, name, open(os.devnull, "w"))


if __name__ == "__main__":
    sys.exit(main())
