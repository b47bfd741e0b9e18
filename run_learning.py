"""cluster_utils job script: train several runs of one hyperparameter sample.

Usage: ``python run_learning.py SETTINGS.json ['key=value' ...]`` standalone, or as
started by cluster_utils (see learning/job/).
"""

import sys

from learning.job.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
