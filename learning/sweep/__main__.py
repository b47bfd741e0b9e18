"""``python -m learning.sweep FILE [key=value ...]``: the launcher (learning.launch)."""

from learning.launch.launcher import cli

if __name__ == "__main__":
    cli()
