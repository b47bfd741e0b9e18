"""The shipped environments; importing this package registers each once, with gymnasium
and as an env plug-in (learning.plugins.envs: what the learner, the config checks and the
job know of an env).

- ``learning/TableTennis-v0``: :class:`learning.envs.table_tennis_v0.TableTennisEnv`; its
  plug-in :mod:`learning.envs.table_tennis_plugin`, its config roles
  :mod:`learning.envs.table_tennis_roles`.

:mod:`learning.envs.opengl`: MuJoCo imported without an OpenGL backend in the processes
that never render (the learner and its env workers), whatever ``MUJOCO_GL`` says.
"""

from gymnasium.envs.registration import register, registry

from learning.envs.table_tennis_plugin import TABLE_TENNIS_ID, TableTennisPlugin
from learning.plugins.envs import register_env

if TABLE_TENNIS_ID not in registry:
    register(id=TABLE_TENNIS_ID, entry_point="learning.envs.table_tennis_v0:TableTennisEnv")
register_env(TableTennisPlugin())
