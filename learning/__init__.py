"""Reinforcement learning of table tennis with a simulated pneumatic-muscle robot.

Subpackages: ``learning.envs`` (the MuJoCo environment), ``learning.hpo`` (cluster_utils
hyperparameter optimization); ``python -m learning CONFIG.json`` trains one agent.
"""
