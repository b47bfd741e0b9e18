"""``python -m learning.sweep FILE [key=value ...]``: the launcher (learning.launch)."""

import sys

from learning.launch.launcher import cli

if __name__ == "__main__":
    sys.exit(cli(prog="python -m learning.sweep"))
