"""Reinforcement learning of table tennis with a simulated pneumatic-muscle robot, and
hyperparameter optimization of it on clusters with cluster_utils.

Wings (each imports :mod:`learning.contract`, :mod:`learning.config` and the wings
below it, never a sibling's internals):

- ``learning.envs``: TableTennis-v0 (MuJoCo), its reward, assets and env plug-in;
- ``learning.plugins``: plug-in points (``learning.plugins.envs``: envs by id, the one
  interface through which the other wings see an env; ``learning.plugins.pruning``: the
  jobs' pruning rules by name);
- ``learning.training``: one training run (``lttfs train``, ``python -m learning``);
- ``learning.job``: the cluster_utils job (``run_learning.py``): several runs of one
  sample, retries, chained iterations, metrics;
- ``learning.container``: the Singularity/Apptainer wrapper (``run_singularity.py``);
- ``learning.launch`` (with ``learning.preflight``): one optimization started (``lttfs
  sweep``, ``lttfs check``);
- ``learning.analysis``: one optimization read back (``lttfs inspect``, ``confirm``,
  ``render``).

``lttfs COMMAND`` (:mod:`learning.cli`) is the one console command over them.
"""
