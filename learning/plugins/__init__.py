"""Plug-in points: one small interface and a registry each, as optuna's pruners (adding a
plug-in edits no other module).

- :mod:`learning.plugins.envs`: envs by id (``rl_common_config.env_id``); each declares
  its config roles, how it is built, its spaces and its metrics.
- :mod:`learning.plugins.pruning`: pruning rules by name (the job setting
  ``pruning.rule``); each declares its options (name, type, range, default) and decides
  whether a job stops after a training iteration.
"""
