"""Reinforcement learning of table tennis with a simulated pneumatic-muscle robot, and
hyperparameter optimization of it on clusters with cluster_utils.

Wings (each imports :mod:`learning.contract`, :mod:`learning.config` and the wings
below it, never a sibling's internals):

- ``learning.envs``: TableTennis-v0 (MuJoCo), its reward and assets;
- ``learning.training``: one training run (``python -m learning CONFIG.json``);
- ``learning.job``: the cluster_utils job (``run_learning.py``): several runs of one
  sample, retries, chained iterations, metrics;
- ``learning.container``: the Singularity/Apptainer wrapper (``run_singularity.py``);
- ``learning.sweep``: one optimization as a whole: inspection (``lttfs-inspect``).
"""
