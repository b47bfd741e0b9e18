"""singularity/lttfs.def: parsed with spython's recipe parser; its sections checked.

No image can be built here (no Singularity/Apptainer runtime); instead the %runscript and
%test bodies are run with bash on the host, where the project's Python environment plays
the image's and the repository plays the image's /opt/lttfs.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest
from spython.main.parse.parsers import SingularityParser

REPO = pathlib.Path(__file__).resolve().parents[2]
RECIPE = REPO / "singularity" / "lttfs.def"


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


def test_bootstrap_is_docker_python_311(recipe):
    assert RECIPE.read_text().splitlines()[0] == "Bootstrap: docker"
    assert recipe.fromHeader in ("python:3.11-slim", "debian:12")


def test_files_copy_the_project_sources_that_exist(recipe):
    sources = {line.split()[0] for line in recipe.files}
    assert {"setup.cfg", "learning", "config", "run_learning.py"} <= sources
    for source in sources:
        assert (REPO / source).exists(), f"%files names {source}, missing in the repo"
    targets = {line.split()[1] for line in recipe.files}
    assert all(t.startswith("/opt/lttfs/") for t in targets)


def test_post_installs_cpu_torch_then_the_project(recipe):
    install = [line for line in recipe.install if not line.startswith(("#", "echo"))]
    torch_at = next(i for i, line in enumerate(install) if "torch==" in line)
    project_at = next(i for i, line in enumerate(install)
                      if re.search(r"pip install .*(-e )?/opt/lttfs$", line))
    assert torch_at < project_at
    makefile_torch = re.search(r"torch==[\d.]+", (REPO / "Makefile").read_text()).group()
    assert makefile_torch in install[torch_at]  # same torch as `make setup`
    assert "--index-url https://download.pytorch.org/whl/cpu" in install[torch_at]


def test_runscript_executes_its_arguments(recipe, tmp_path):
    assert recipe.cmd == 'exec "$@"'
    result = subprocess.run(
        ["bash", "-c", recipe.cmd, "runscript", "sh", "-c", "echo \"$1\"; exit 3", "x",
         "two words"],
        capture_output=True, text=True, check=False,
    )
    assert (result.returncode, result.stdout) == (3, "two words\n")


def test_test_section_imports_the_package_and_steps_the_env(recipe):
    assert recipe.test == "/bin/bash /tests.sh"
    body = section_body("test")
    assert "import gymnasium, learning.envs" in body
    assert "gymnasium.make('learning/TableTennis-v0'," in body
    assert body.startswith("cd /opt/lttfs\n")  # the project copy made by %files
    assert "env.step(" in body


def test_test_section_runs_on_the_host_environment():
    pytest.importorskip("learning.envs.table_tennis_v0", reason="the env is not in this tree yet")
    env = dict(os.environ)
    # the image has python on PATH and the project installed; here: this venv + the repo
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("MUJOCO_GL", "osmesa")
    body = section_body("test").replace("/opt/lttfs", str(REPO))  # the image's copy
    result = subprocess.run(["bash", "-euc", body], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "learning/TableTennis-v0 steps" in result.stdout
