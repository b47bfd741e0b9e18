"""``python -m learning.sweep.inspection RESULTS``: the inspection (learning.analysis)."""

import sys

from learning.analysis.inspection import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m learning.sweep.inspection"))
