#!/usr/bin/env python3
"""cluster_utils job script that runs `singularity.script` inside `singularity.image`.

Set "script_relative_path": "run_singularity.py" and, in fixed_params,
"singularity.image" and "singularity.script"; see learning/container/wrapper.py.
"""

import sys

from learning.container.wrapper import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
