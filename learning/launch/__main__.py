"""``python -m learning.launch FILE [key=value ...] [--check | --resume | --fresh]``: see
learning.launch.launcher."""

from learning.launch.launcher import cli

if __name__ == "__main__":
    cli()
