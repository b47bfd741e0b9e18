"""One optimization as a whole: inspection of cluster_utils results (``lttfs-inspect``,
``python -m learning.sweep.inspection``): results.py and runs.py read what cluster_utils
and the jobs wrote, ranking.py, stats.py and display.py turn it into the table,
plots.py and report.py into report.html, confirm.py reruns the winners on fresh seeds,
render.py films the best policy. Needs pandas and matplotlib (login node, laptop).
"""
