"""singularity/lttfs.def, by what its sections do.

No image can be built here (no Singularity/Apptainer runtime, no registry access for
the docker base). Instead the recipe is parsed with spython's recipe parser and its parts
run on the host: %files is carried out into a folder that plays the image's /opt/lttfs,
and the %test body runs there with bash, using this venv's packages but only the copied
project files; %runscript runs with bash.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from spython.main.parse.parsers import SingularityParser

REPO = pathlib.Path(__file__).resolve().parents[2]
RECIPE = REPO / "singularity" / "lttfs.def"
IMAGE_PROJECT = "/opt/lttfs"


@pytest.fixture(scope="module")
def recipe():
    layers = SingularityParser(str(RECIPE)).recipe
    assert len(layers) == 1
    return next(iter(layers.values()))


def section_body(name: str) -> str:
    """The raw lines of a %section (the parser folds %test into echo commands)."""
    body, inside = [], False
    for line in RECIPE.read_text().splitlines():
        if line.startswith("%"):
            inside = line.split()[0] == f"%{name}"
        elif inside:
            body.append(line.strip())
    return "\n".join(body).strip()


def carry_out_files(recipe, root: pathlib.Path) -> pathlib.Path:
    """Copy every %files source to its target under ``root`` (the image's /)."""
    for line in recipe.files:
        source, target = line.split()
        assert (REPO / source).exists(), f"%files names {source}, missing in the repo"
        destination = root / target.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, destination,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / source, destination)
    return root / IMAGE_PROJECT.lstrip("/")


def test_runscript_executes_its_arguments(recipe):
    result = subprocess.run(
        ["bash", "-c", recipe.cmd, "runscript", "sh", "-c", "echo \"$1\"; exit 3", "x",
         "two words"],
        capture_output=True, text=True, check=False,
    )
    assert (result.returncode, result.stdout) == (3, "two words\n")


def test_files_suffice_for_the_test_section(recipe, tmp_path):
    """What %files copies is enough for %test (the package finds its default configs, the
    env's assets, the five roles) when it is the only copy of the project on the path."""
    project = carry_out_files(recipe, tmp_path / "image")
    env = dict(os.environ)
    # the image has python on PATH and the project installed; here: this venv + the copy
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(project)
    env.setdefault("MUJOCO_GL", "osmesa")
    body = section_body("test").replace(IMAGE_PROJECT, str(project))
    check = "import learning, sys; print(learning.__file__, file=sys.stderr)"
    result = subprocess.run(["bash", "-euc", f"{body}\npython -c '{check}'"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "learning/TableTennis-v0 steps" in result.stdout
    assert result.stderr.strip().startswith(str(project))  # the copy, not the repository
