"""``python -m learning.launch FILE [key=value ...] [--check | --resume | --fresh]``
(``lttfs sweep``): see learning.launch.launcher."""

import sys

from learning.launch.launcher import cli

if __name__ == "__main__":
    sys.exit(cli())
