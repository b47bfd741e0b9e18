"""``lttfs COMMAND [ARGS ...]``: the suite's one console command (like ``rl_zoo3 train``).

Each command is an existing command's ``main(argv)``, which parses its own options
(``lttfs COMMAND --help``); only the one named is imported. The ``python -m`` forms run the
same code:

=========  ===========================================================================
sweep      ``python -m learning.launch FILE`` (also ``python -m learning.sweep``)
check      ``python -m learning.launch FILE --check``
train      ``python -m learning [CONFIG.json]``
inspect    ``python -m learning.analysis.inspection RESULTS`` (also ``learning.sweep.inspection``)
confirm    ``... inspection RESULTS --confirm K --seeds N [--confirm-write-only]``
render     ``... inspection RESULTS --render``
zoo        ``python -m learning.config.zoo HYPERPARAMS.yml ENV_NAME --out DIR``
=========  ===========================================================================

As a process (``lttfs ...``) the command sees ``sys.argv`` as if started on its own
(``["lttfs COMMAND", ARGS ...]``), so that it behaves as its ``python -m`` form: the
learner keeps its stop-signal handlers to the end, the launcher re-executes itself as
``python -m learning.launch ARGS`` with its sweep tag (learning.launch.guard). Called
in-process with an explicit ``argv`` (tests), the learner restores what it changed and the
launcher runs without re-executing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NamedTuple

PROG = "lttfs"


class Command(NamedTuple):
    summary: str
    #: (argv without the command's name, or None: the process's own (sys.argv[1:]); the
    #: name to show in usage and errors) -> exit code
    run: Callable[[list[str] | None, str], int]
    #: the name to show -> the command's own parser (what ``lttfs COMMAND --help`` prints)
    parser: Callable[[str], argparse.ArgumentParser]


def _sweep(argv: list[str] | None, prog: str) -> int:
    from learning.launch.launcher import cli, main

    return cli(prog=prog) if argv is None else main(argv, prog=prog)


def _check(argv: list[str] | None, prog: str) -> int:
    from learning.launch.launcher import check_main

    return check_main(argv, prog=prog)


def _train(argv: list[str] | None, prog: str) -> int:
    from learning.__main__ import main

    return main(argv, prog=prog)


def _zoo(argv: list[str] | None, prog: str) -> int:
    from learning.config.zoo import main

    return main(argv, prog=prog)


def _inspection(command: str) -> Callable[[list[str] | None, str], int]:
    def run(argv: list[str] | None, prog: str) -> int:
        from learning.analysis.inspection import main

        return main(argv, prog=prog, command=command)

    return run


def _sweep_parser(prog: str) -> argparse.ArgumentParser:
    from learning.launch.launcher import make_parser

    return make_parser(prog)


def _check_parser(prog: str) -> argparse.ArgumentParser:
    from learning.launch.launcher import check_parser

    return check_parser(prog)


def _train_parser(prog: str) -> argparse.ArgumentParser:
    from learning.__main__ import make_parser

    return make_parser(prog)


def _zoo_parser(prog: str) -> argparse.ArgumentParser:
    from learning.config.zoo import make_parser

    return make_parser(prog)


def _inspection_parser(command: str) -> Callable[[str], argparse.ArgumentParser]:
    def parser(prog: str) -> argparse.ArgumentParser:
        from learning.analysis.inspection import make_parser

        return make_parser(prog, command)

    return parser


COMMANDS = {
    "sweep": Command("check and run a cluster_utils sweep (hp_optim file); resume it", _sweep,
                     _sweep_parser),
    "check": Command("the sweep's pre-flight checks only: start nothing", _check,
                     _check_parser),
    "train": Command("one training run (default config: the shipped PPO defaults)", _train,
                     _train_parser),
    "inspect": Command("ranked table and report.html of a sweep's results", _inspection(
        "inspect"), _inspection_parser("inspect")),
    "confirm": Command("rerun the top K settings on fresh seeds: does the winner hold?",
                       _inspection("confirm"), _inspection_parser("confirm")),
    "render": Command("render an episode of a sweep's best policy to a GIF",
                      _inspection("render"), _inspection_parser("render")),
    "zoo": Command("an rl-baselines3-zoo hyperparameter entry as a config folder", _zoo,
                   _zoo_parser),
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lttfs")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog=PROG, usage=f"{PROG} COMMAND [ARGS ...]",
        description="Hyperparameter optimization of RL for a simulated table-tennis robot "
                    "(cluster_utils sweeps of stable-baselines3 learners).",
        epilog=f"'{PROG} COMMAND --help' shows a command's own options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                     required=True)
    return parser, commands


def command_parser() -> argparse.ArgumentParser:
    """Parses the command's name only; its arguments are its own."""
    parser, commands = _top_parser()
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.summary, add_help=False)
    return parser


def full_parser() -> argparse.ArgumentParser:
    """``lttfs`` with each command's own parser as its subcommand: every option a command
    parses, for the documentation (docs/reference/commands.md, sphinx-argparse). ``lttfs``
    itself parses with :func:`command_parser` and hands the rest to the command."""
    parser, commands = _top_parser()
    for name, command in COMMANDS.items():
        own = command.parser(f"{PROG} {name}")
        commands.add_parser(name, help=command.summary, description=own.description,
                            epilog=own.epilog, formatter_class=own.formatter_class,
                            parents=[own], add_help=False, prog=own.prog)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``lttfs``; ``argv`` without the program name (default: sys.argv[1:], and then
    the command runs as the process's entry, see the module's docstring)."""
    process_entry = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    command_parser().parse_args(argv[:1])  # --help, --version, a missing or unknown name
    name, rest = argv[0], argv[1:]
    prog = f"{PROG} {name}"
    if process_entry:
        sys.argv = [prog, *rest]
    return COMMANDS[name].run(None if process_entry else rest, prog)


if __name__ == "__main__":
    sys.exit(main())
