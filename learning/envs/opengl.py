"""MuJoCo's OpenGL backend in processes that never render (the learner and its env workers).

``import mujoco`` reads ``MUJOCO_GL`` once and loads that OpenGL backend at import time
(mujoco/rendering/classic/gl_context.py; mujoco/gl_context.py before mujoco 4): "egl"
loads libEGL through PyOpenGL, "osmesa" libOSMesa, "glfw" or unset GLFW. A library that
cannot be loaded (a GPU node whose image has no libEGL) makes the import raise, as an
AttributeError from PyOpenGL that mujoco does not catch, and a value mujoco does not know
raises RuntimeError: every learner would crash before training, which never renders.
The values "disable", "off", "false", "0" make mujoco load no backend at all (since
mujoco 2.3; it then has no ``GLContext``; the physics is unaffected).

So the learner sets ``MUJOCO_GL=disable`` (:func:`disable_opengl`) before mujoco is first
imported, in its own environment, which its env worker processes inherit, and
``make_worker_env`` does the same in each worker. Retrying a failed import without the
backend instead would depend on how each backend and mujoco version fails (AttributeError,
OSError, ImportError, RuntimeError) and on purging the half-imported mujoco and PyOpenGL
modules: not robust. The user's ``MUJOCO_GL`` stays in the user's environment: rendering
(learning/training/render.py, the inspection's ``--render``) runs in its own child process
with ``MUJOCO_GL`` set explicitly, honours the user's value and reports a backend that
cannot load.
"""

from __future__ import annotations

import os

#: The MUJOCO_GL value with which ``import mujoco`` loads no OpenGL backend.
NO_OPENGL = "disable"


def disable_opengl() -> str | None:
    """Make this process (and the processes it starts from now on) import mujoco without an
    OpenGL backend; returns the previous MUJOCO_GL (None: unset) for :func:`restore_opengl`.

    A mujoco already imported in this process keeps the backend it loaded; its children
    are still started with ``MUJOCO_GL=disable``."""
    previous = os.environ.get("MUJOCO_GL")
    os.environ["MUJOCO_GL"] = NO_OPENGL
    return previous


def restore_opengl(previous: str | None) -> None:
    """Put back the MUJOCO_GL that :func:`disable_opengl` replaced (for in-process callers,
    tests, that render afterwards)."""
    if previous is None:
        os.environ.pop("MUJOCO_GL", None)
    else:
        os.environ["MUJOCO_GL"] = previous

