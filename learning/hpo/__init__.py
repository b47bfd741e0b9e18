"""Everything cluster_utils-facing: template merge, restart state, the job loop."""
