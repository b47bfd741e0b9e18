"""The cluster_utils job (``run_learning.py``): several learning runs of one sample.

settings.py (options, merged and checked configs, working dir), state_setup.py (the
restart state resumed or made), learner.py (the learner child process, signals, CPUs),
warm_start.py (the job's fork server: learners forked with their libraries imported),
pool.py (the concurrent learners, waiting for them), attempts.py (an attempt's folder
and configs), outcomes.py (how an attempt ended), continuation.py (which checkpoint a
retry continues from), metrics.py (run scores, job metrics), pruning.py (the estimate
after each iteration, recorded and announced; the pruning settings), rounds.py (when a
job process ends its chunk: time short, or one round per cluster job where asked),
loop.py (the job loop: concurrent learners) with bookkeeping.py (what an attempt's
outcome does to the restart state), cli.py (``main(argv)``). Runs on compute
nodes: no pandas, no matplotlib, no torch, no stable-baselines3 (the config check reads
their argument schema from a cache: learning.config.sb3_schema).
"""
