"""Everything a sweep's jobs would refuse, found before any job is submitted (``--check``):
the hp_optim file's shape and the job settings with the job's own checks (checks),
strings cluster_utils would hand to a shell (shell_safety), the pruning settings
(pruning), the machine side (environment) and one probe job started in the jobs' own
interpreter (interpreter)."""
