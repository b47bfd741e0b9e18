"""A stable-baselines3 model zip's JSON ``data`` (the model's class arguments, spaces and
``num_timesteps``), read without unpickling anything: the config checks read a
``load_path`` model's algorithm and space shapes from it (learning.config.machine), the
job the timesteps of the model an attempt left (learning.job.continuation).

stable-baselines3 saves ``data`` as JSON in which each value it could not write as JSON
is an object holding a pickle (``":serialized:"``); those stay opaque strings here.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any


class ModelZipError(Exception):
    """The file is not a stable-baselines3 model zip; the message says why."""


def read_model_data(path: Path) -> dict[str, Any]:
    """The zip's ``data`` object; ModelZipError saying why if there is none."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except zipfile.BadZipFile as e:
        raise ModelZipError("not a zip file") from e
    except KeyError as e:
        raise ModelZipError("a zip without stable-baselines3's 'data'") from e
    except (ValueError, OSError) as e:
        raise ModelZipError(str(e)) from e
    if not isinstance(data, dict):
        raise ModelZipError("its 'data' is not an object")
    return data

