"""``python -m learning.sweep FILE [key=value ...] [--check | --resume | --fresh]``: see
learning.sweep.launch."""

from learning.sweep.launch import cli

if __name__ == "__main__":
    cli()
