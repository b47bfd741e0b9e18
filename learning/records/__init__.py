"""The files one wing writes and another reads back, one typed reader per format:
a job's restart state (job_state), cluster_utils' pickles read without running code
(safe_pickle)."""
