"""Gymnasium environments; importing this package registers them once.

- ``learning/TableTennis-v0``: :class:`learning.envs.table_tennis_v0.TableTennisEnv`.

:mod:`learning.envs.opengl`: MuJoCo imported without an OpenGL backend in the processes
that never render (the learner and its env workers), whatever ``MUJOCO_GL`` says.
"""

from gymnasium.envs.registration import register, registry

TABLE_TENNIS_ID = "learning/TableTennis-v0"

if TABLE_TENNIS_ID not in registry:
    register(id=TABLE_TENNIS_ID, entry_point="learning.envs.table_tennis_v0:TableTennisEnv")
