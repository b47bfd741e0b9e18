"""The cluster_utils job (``run_learning.py``): several learning runs of one sample.

settings.py (options, merged and checked configs, working dir), state.py (the restart
state's schema), learner.py (the learner child process, signals, CPUs), pool.py (the
concurrent learners, waiting for them), attempts.py (an attempt's folder and configs),
outcomes.py (how an attempt ended), continuation.py (which checkpoint a retry continues
from), metrics.py (run scores, job metrics), pruning.py (the estimate after each
iteration, recorded and announced; the pruning settings), loop.py (the job loop: rounds
of concurrent learners), cli.py (``main(argv)``). Runs on compute nodes:
no pandas, no matplotlib, no torch.
"""
