"""One optimization started (``python -m learning.launch FILE``, ``lttfs sweep``): the
hp_optim file read without evaluating anything (sweep_file, substitution), the
pre-flight (learning.preflight), the results folder and its lock (results_folder), what
the sweep searches (definition), an hp_optimization's optimizer rebuilt from its data
files when resuming (optimizer_rebuild), the guard that stops a dead launcher's jobs
(guard), the sweep's message secret (learning.sweep_messages), cluster_utils run
in-process with the launcher's changes (cluster_utils_patches), and failed jobs reported
in their own words (failures). launcher.py holds the command."""
