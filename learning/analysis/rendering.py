"""``lttfs render`` / ``inspect --render``: a GIF of the best job's final policy
(learning.training.render renders it, headless), or for a sweep over envs one GIF of each
env's best job, named after the env (:func:`gif_paths`). An env that cannot render (its
renderer's package missing, say) is reported with its error and does not stop the others.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from learning.analysis.display import display_path, printable

DEFAULT_NAME = "best_policy.gif"


def safe_name(env: str) -> str:
    """An env id as part of a file name: letters, digits, ``.``, ``_`` and ``-`` kept, any
    other run of characters (``/``, spaces, control characters) one ``_``; at most 64."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", env).strip("._-")[:64] or "env"


def gif_paths(target: Path, envs: list[str]) -> list[Path]:
    """One GIF per env beside ``target``: ``best_policy.gif`` -> ``best_policy_<env>.gif``
    (:func:`safe_name`; two envs whose safe names clash get their id's hash added)."""
    paths, seen = [], set()
    for env in envs:
        name = safe_name(env)
        if name in seen:
            name += "-" + hashlib.sha1(env.encode("utf-8", "replace")).hexdigest()[:8]
        seen.add(name)
        paths.append(target.with_name(f"{target.stem}_{name}{target.suffix}"))
    return paths


def render(args, sweep, best, notes: list[str], axis=None):
    """(GIF path or None, exit code) of --render; for a sweep over envs (``axis``:
    per_env.EnvAxis) ([(env, GIF) of each env that rendered], exit code: 1 if one failed)."""
    target = args.render_output or sweep.root / DEFAULT_NAME
    if axis is None:
        return render_one(best, target, sweep.metric, notes)
    gifs, exit_code = [], 0
    for group, path in zip(axis.groups, gif_paths(target, [g.env for g in axis.groups]),
                           strict=True):
        gif, code = render_one(group.views[0], path, sweep.metric, notes, group.env)
        if gif is not None:
            gifs.append((group.env, gif))
        exit_code = exit_code or code
    return gifs, exit_code


def render_one(best, gif: Path, metric: str, notes: list[str], env: str | None = None):
    """(GIF path or None, exit code): render ``best``'s final policy to ``gif``."""
    from learning.training.render import RenderError, render_best

    where = "" if env is None else f" on env {printable(env)}"
    try:
        gif, backend, failures = render_best(best.job_dir, gif, metric)
    except RenderError as e:
        print(f"error: --render{where}: {printable(str(e))}", file=sys.stderr)
        if env is not None:
            notes.append(f"--render{where} (job {best.job_id}): {printable(str(e))}")
        return None, 1
    except OSError as e:
        print(f"error: --render{where}: cannot write {e.filename or gif}: {e.strerror or e}; "
              "choose another file with --render-output PATH", file=sys.stderr)
        return None, 1
    print(f"\nrendered the best job's final policy{where} (MUJOCO_GL={backend}): "
          f"{display_path(gif)}")
    notes += [f"rendering{where} fell back: {failure}" for failure in failures]
    return gif, 0
