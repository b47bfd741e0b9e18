"""One optimization read back (``python -m learning.analysis.inspection RESULTS``,
``lttfs inspect``): results.py, runs.py, intermediate.py and cluster_utils_files.py read
what cluster_utils and the jobs wrote; ranking.py, stats.py and display.py turn it into
the table (per_env.py, normalization.py and aggregate.py: a sweep over envs, per env and
across envs); plots.py and report.py into report.html; confirm.py reruns the winners on
fresh seeds (through the launcher) and judges them, baseline.py adds the shipped
defaults. Needs pandas and matplotlib (login node, laptop), never torch."""
