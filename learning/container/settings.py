"""Job parameters and ``singularity.*`` settings of the run_singularity.py wrapper.

The wrapper receives exactly the command line cluster_utils 3.0 gives a job script::

    run_singularity.py --job-id N --cluster-utils-server HOST:PORT --parameter-dict "{...}"
    run_singularity.py settings.json [key=value ...]          (standalone)

It parses that command line with cluster_utils' own job-script argument parser and
smart_settings, like :func:`cluster_utils.initialize_job`, but does not register at the
cluster_utils server: the inner script (``singularity.script``) does that with the same
arguments, which the wrapper passes through unchanged.

Settings (in ``fixed_params`` as dotted keys ``"singularity.image"`` or nested as
``{"singularity": {"image": ...}}``; both forms are accepted):

==================  ========  ==========================================================
key                 default   meaning
==================  ========  ==========================================================
image               required  image file (or sandbox directory); ``~`` is expanded
script              required  the job script to run inside the image, relative to the
                              project directory (the wrapper's working directory, where
                              cluster_utils ``cd``'s before starting a job). An
                              executable file runs as it is (its ``#!`` line); a
                              ``.py`` file without the executable bit runs with the
                              image's ``python3``, as cluster_utils runs job scripts
executable          (PATH)    ``singularity`` or ``apptainer`` (a name on PATH or a path);
                              default: whichever of the two is on PATH
binds               []        extra bind paths, ``SRC[:DEST[:OPTS]]``; SRC must exist
nv                  false     GPU passthrough (``--nv``)
args                []        extra options for ``singularity exec`` (before the image)
use_run             false     ``singularity run`` (the image's %runscript) instead of exec
==================  ========  ==========================================================
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from dataclasses import dataclass, field
from typing import Any

import smart_settings  # cluster_utils' own settings loader

# cluster_utils 3.0.0 (pinned in setup.cfg) exposes its job-script parser only as a
# private function; initialize_job() would also register at the server, which is the
# inner script's job, so the wrapper uses the parser and the same loading steps.
from cluster_utils.base.settings import add_cmd_line_params, check_reserved_params
from cluster_utils.client import _init_job_script_argument_parser

from learning.parameter_dict import ParameterDictError, parse_parameter_dict

SECTION = "singularity"
KNOWN_EXECUTABLES = ("singularity", "apptainer")
PYTHON_IN_IMAGE = "python3"  # found on the image's PATH (the recipe's python:3.11 image)
VALID_KEYS = ("image", "script", "executable", "binds", "nv", "args", "use_run")


class SingularitySettingsError(ValueError):
    """A missing or invalid ``singularity.*`` setting or job parameter."""


@dataclass(frozen=True)
class JobArguments:
    """What the wrapper learned from its command line."""

    params: dict[str, Any]
    #: the arguments after the script name, passed on unchanged to the inner script
    passthrough: list[str]
    #: the settings file (standalone mode), ``None`` for ``--parameter-dict``
    parameter_file: pathlib.Path | None


@dataclass(frozen=True)
class SingularitySettings:
    image: pathlib.Path
    script: pathlib.Path
    #: how the script is started in the image: [script] or [python3, script]
    script_command: list[str]
    executable: str
    binds: list[str] = field(default_factory=list)
    nv: bool = False
    args: list[str] = field(default_factory=list)
    use_run: bool = False


def read_job_arguments(argv: list[str]) -> JobArguments:
    """Parse ``argv`` (``argv[0]`` is the script) like cluster_utils' initialize_job."""
    parser = _init_job_script_argument_parser()
    parser.prog = os.path.basename(argv[0]) if argv else "run_singularity.py"
    args = parser.parse_args(argv[1:])

    def add_overwrites(orig_dict):
        add_cmd_line_params(orig_dict, args.parameter_overwrites)

    # dynamic=False: smart_settings' dynamic entries are evaluated expressions; the
    # wrapper only needs plain values (singularity.*, working_dir) and never evaluates
    # strings as code. The inner script loads the parameters itself.
    hooks = [add_overwrites, check_reserved_params]

    if args.parameter_dict:
        try:  # numpy 2's scalar reprs too (learning.parameter_dict)
            parameter_dict = parse_parameter_dict(args.parameter_file_or_dict)
        except ParameterDictError as e:
            raise SingularitySettingsError(f"--parameter-dict: {e}") from e
        params = smart_settings.loads(
            json.dumps(parameter_dict), make_immutable=False, dynamic=False,
            post_unpack_hooks=hooks,
        )
        parameter_file = None
    else:
        parameter_file = pathlib.Path(args.parameter_file_or_dict)
        if not parameter_file.is_file():
            raise SingularitySettingsError(
                f"{parameter_file}: the settings file does not exist or is not a file"
            )
        params = smart_settings.load(
            os.fspath(parameter_file), make_immutable=False, dynamic=False,
            post_unpack_hooks=hooks,
        )
    return JobArguments(plain_dicts(params), list(argv[1:]), parameter_file)


def plain_dicts(value: Any) -> Any:
    """smart_settings' AttributeDict/lists -> plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): plain_dicts(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_dicts(v) for v in value]
    return value


def singularity_section(params: dict[str, Any]) -> dict[str, Any]:
    """Collect ``singularity.*`` from nested and dotted keys (both forms may be mixed)."""
    found: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def add(key: str, value: Any, source: str) -> None:
        if key in found and found[key] != value:
            raise SingularitySettingsError(
                f"{SECTION}.{key}: given twice with different values"
                f" ({sources[key]}: {found[key]!r}, {source}: {value!r})"
            )
        found[key], sources[key] = value, source

    nested = params.get(SECTION)
    if nested is not None:
        if not isinstance(nested, dict):
            raise SingularitySettingsError(
                f"{SECTION}: must be a dict of settings, got {nested!r};"
                f" valid keys: {', '.join(VALID_KEYS)}"
            )
        for key, value in nested.items():
            add(key, value, f'"{SECTION}": {{"{key}": ...}}')
    prefix = SECTION + "."
    for key, value in params.items():
        if key.startswith(prefix):
            add(key[len(prefix):], value, f'"{key}"')
    return found


def validate_settings(
    raw: dict[str, Any], project_dir: pathlib.Path, path_env: str | None = None
) -> SingularitySettings:
    """Check every ``singularity.*`` setting; the first problem raises with its key."""
    unknown = sorted(set(raw) - set(VALID_KEYS))
    if unknown:
        raise SingularitySettingsError(
            f"{SECTION}.{unknown[0]}: unknown setting; valid: {', '.join(VALID_KEYS)}"
        )
    for key in ("image", "script"):
        if key not in raw:
            raise SingularitySettingsError(
                f"{SECTION}.{key}: missing (required); set it in fixed_params, e.g."
                f' "{SECTION}.image": "~/lttfs.sif", "{SECTION}.script": "run_learning.py"'
            )
    image = pathlib.Path(os.path.expanduser(_string(raw, "image")))
    if not image.exists():
        raise SingularitySettingsError(
            f"{SECTION}.image: {image} does not exist (build it: see singularity/README.md)"
        )
    image = image.resolve()

    script = project_dir / _string(raw, "script")
    if not script.is_file():
        raise SingularitySettingsError(
            f"{SECTION}.script: {script} is not a file (relative paths are relative to the"
            f" project directory {project_dir})"
        )
    script = script.resolve()
    if os.access(script, os.X_OK):
        script_command = [os.fspath(script)]
    elif script.suffix == ".py":
        script_command = [PYTHON_IN_IMAGE, os.fspath(script)]
    else:
        raise SingularitySettingsError(
            f"{SECTION}.script: {script} is not executable (chmod +x, with a #! line;"
            " or a .py file, which runs with the image's python3)"
        )

    return SingularitySettings(
        image=image,
        script=script,
        script_command=script_command,
        executable=_executable(raw.get("executable"), path_env),
        binds=_binds(raw.get("binds", [])),
        nv=_bool(raw, "nv"),
        args=_string_list(raw, "args"),
        use_run=_bool(raw, "use_run"),
    )


def _string(raw: dict[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise SingularitySettingsError(
            f"{SECTION}.{key}: must be a non-empty string (a path), got {value!r}"
        )
    return value


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise SingularitySettingsError(
            f"{SECTION}.{key}: must be true or false, got {value!r}"
        )
    return value


def _string_list(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SingularitySettingsError(
            f"{SECTION}.{key}: must be a list of non-empty strings"
            f' (one option or value per item, e.g. ["--writable-tmpfs"]), got {value!r}'
        )
    return list(value)


def _binds(value: Any) -> list[str]:
    binds = _string_list({"binds": value}, "binds")
    for bind in binds:
        if "," in bind:
            raise SingularitySettingsError(
                f"{SECTION}.binds: {bind!r}: one bind per list item (singularity would"
                " split this one at the comma)"
            )
        host = _expand_host(bind).partition(":")[0]
        if not os.path.exists(host):
            raise SingularitySettingsError(
                f"{SECTION}.binds: {bind!r}: the host path {host} does not exist"
                " (format SRC[:DEST[:OPTS]])"
            )
    return [_expand_host(bind) for bind in binds]


def _expand_host(bind: str) -> str:
    host, sep, rest = bind.partition(":")
    return os.path.expanduser(host) + sep + rest


def _executable(value: Any, path_env: str | None) -> str:
    if value is None:
        for name in KNOWN_EXECUTABLES:
            found = shutil.which(name, path=path_env)
            if found:
                return found
        raise SingularitySettingsError(
            f"{SECTION}.executable: neither singularity nor apptainer is on PATH"
            f" ({path_env if path_env is not None else os.environ.get('PATH', '')});"
            f" load the module that provides one or set {SECTION}.executable to its path"
        )
    if not isinstance(value, str) or not value:
        raise SingularitySettingsError(
            f"{SECTION}.executable: must be a non-empty string, got {value!r};"
            f" valid: {', '.join(KNOWN_EXECUTABLES)} or a path to one of them"
        )
    found = shutil.which(os.path.expanduser(value), path=path_env)
    if not found:
        raise SingularitySettingsError(
            f"{SECTION}.executable: {value!r} is not an executable file or a command on"
            f" PATH; valid: {', '.join(KNOWN_EXECUTABLES)} or a path to one of them"
        )
    return os.path.abspath(found)
