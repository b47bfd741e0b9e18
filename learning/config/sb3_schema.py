"""stable-baselines3's constructor arguments, without importing stable-baselines3.

The rl_config checks need, per algorithm, the names of ``PPO.__init__`` /
``SAC.__init__``'s arguments, the JSON kinds each accepts (from its annotation) and its
default.  Reading them means importing stable-baselines3, hence torch (about a second),
which a job process must not do (its config check would cost that on every cluster job).
So the schema is derived once per installed stable-baselines3 and cached as JSON data in
the user's private cache folder (learning.private_cache):
``~/.cache/lttfs/sb3-schema-<version>.json``, keyed by the version the package metadata
names (importlib.metadata: no import) and the size and modification time of the two
modules that define the signatures (an edited or reinstalled copy of the same version
is derived again).

Where it comes from, in this order: the schema already read in this process; the cache
file, if it is this user's, names this version and sources and has the right shape
(anything else is ignored and replaced); else it is derived, in this process if
stable-baselines3 is imported here already (the learner, the launcher), or otherwise in
a child process (``python -m learning.config.sb3_schema`` prints it and writes the
cache), so the importing process never imports torch.  If the cache cannot be written
(a read-only home) every process derives it again: slower, still correct.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

from learning.private_cache import private_cache_folder, read_private_json, write_private_json

FORMAT = "lttfs-sb3-schema/1"
DISTRIBUTION = "stable-baselines3"
#: rl_common_config's algorithms, by stable-baselines3's class names in lower case
ALGORITHMS = ("ppo", "sac")
#: the modules that define the algorithms' constructors (their signatures)
SOURCES = {"ppo": "stable_baselines3/ppo/ppo.py", "sac": "stable_baselines3/sac/sac.py"}
KINDS = ("integer", "number", "boolean", "string", "list", "object", "null")
NO_DEFAULT = {"none": True}  #: the stored default of an argument without a JSON default


class SchemaUnavailable(RuntimeError):
    """stable-baselines3 cannot be found or imported; the message says why."""


def _annotation_kinds(annotation: Any) -> set[str]:
    """JSON kinds a constructor annotation accepts (empty: not settable from JSON)."""
    if annotation is type(None) or annotation is None:
        return {"null"}
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds: set[str] = set()
        for arg in typing.get_args(annotation):
            kinds |= _annotation_kinds(arg)
        return kinds
    if annotation is bool:
        return {"boolean"}
    if annotation is int:
        return {"integer"}
    if annotation is float:
        return {"number", "integer"}
    if annotation is str:
        return {"string"}
    if annotation is tuple or origin is tuple:
        return {"list"}
    return set()  # classes, callables, torch.device (given as a string: `| str`), ...


def _json_default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return NO_DEFAULT
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    return NO_DEFAULT


def derive() -> dict[str, Any]:
    """The schema of the installed stable-baselines3 (imports it)."""
    import stable_baselines3

    algorithms = {}
    for algorithm in ALGORITHMS:
        parameters = inspect.signature(getattr(stable_baselines3, algorithm.upper()).__init__)
        algorithms[algorithm] = [
            [name, sorted(_annotation_kinds(p.annotation), key=KINDS.index),
             _json_default(p.default)]
            for name, p in parameters.parameters.items()
        ]
    return {"format": FORMAT, **_identity(), "algorithms": algorithms}


def _identity() -> dict[str, Any]:
    """The installed stable-baselines3's version and its sources' sizes and mtimes."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as e:
        raise SchemaUnavailable(f"{DISTRIBUTION} is not installed in {sys.executable}") from e
    sources = {}
    for algorithm, relative in SOURCES.items():
        try:
            info = os.stat(Path(str(distribution.locate_file(relative))))
            sources[algorithm] = [info.st_size, info.st_mtime_ns]
        except OSError:
            sources[algorithm] = None
    return {"version": distribution.version, "sources": sources}


def cache_path(version: str) -> Path | None:
    folder = private_cache_folder()
    safe = "".join(c if c.isalnum() or c in ".+-_" else "_" for c in version)
    return None if folder is None else folder / f"sb3-schema-{safe}.json"


def _usable(data: Any, identity: dict[str, Any]) -> bool:
    """Whether cached ``data`` is a schema of this format for ``identity``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    if data.get("version") != identity["version"] or data.get("sources") != identity["sources"]:
        return False
    algorithms = data.get("algorithms")
    if not isinstance(algorithms, dict) or set(algorithms) != set(ALGORITHMS):
        return False
    for entries in algorithms.values():
        if not isinstance(entries, list):
            return False
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and isinstance(entry[1], list) and all(k in KINDS for k in entry[1])
                    and isinstance(entry[2], dict)
                    and (entry[2] == NO_DEFAULT or set(entry[2]) == {"value"})):
                return False
    return True


def _derive_in_child() -> dict[str, Any]:
    """The schema as ``python -m learning.config.sb3_schema`` prints it (and caches it)."""
    from learning.contract import PROJECT_DIR

    paths = [str(PROJECT_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                  if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))
    result = subprocess.run([sys.executable, "-m", __name__], capture_output=True, text=True,
                            env=env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SchemaUnavailable(f"cannot read stable-baselines3's arguments: {tail}")
    try:
        return json.loads(result.stdout)
    except ValueError as e:
        raise SchemaUnavailable("cannot read stable-baselines3's arguments: the child"
                                " process printed no schema") from e


@functools.cache
def schema() -> dict[str, Any]:
    """The schema of the installed stable-baselines3 (see the module's docstring)."""
    identity = _identity()
    path = cache_path(identity["version"])
    if path is not None:
        cached = read_private_json(path)
        if _usable(cached, identity):
            return cached
    if "stable_baselines3" in sys.modules:
        data = derive()
    else:
        data = _derive_in_child()
        if _usable(data, identity):
            return data  # the child wrote the cache
    if not _usable(data, identity):
        raise SchemaUnavailable("stable-baselines3's arguments changed while they were read")
    if path is not None:
        write_private_json(path, data)
    return data


def arguments(algorithm: str) -> dict[str, tuple[set[str], Any]]:
    """``algorithm``'s constructor arguments in their order: name -> (accepted JSON kinds,
    default; :data:`NO_DEFAULT` if it has none that is a JSON value). KeyError for an
    algorithm that is not one of :data:`ALGORITHMS`."""
    if algorithm not in ALGORITHMS:
        raise KeyError(algorithm)
    return {name: (set(kinds), NO_DEFAULT if stored == NO_DEFAULT else stored["value"])
            for name, kinds, stored in schema()["algorithms"][algorithm]}


def default(algorithm: str, name: str) -> Any:
    """stable-baselines3's default of ``algorithm``'s argument ``name``."""
    value = arguments(algorithm)[name][1]
    if value is NO_DEFAULT:
        raise KeyError(f"{algorithm} argument {name} has no JSON default")
    return value


def main() -> int:
    """Derive the schema (importing stable-baselines3), cache it, print it as JSON."""
    data = derive()
    path = cache_path(data["version"])
    if path is not None:
        write_private_json(path, data)
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
