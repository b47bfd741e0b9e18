"""``lttfs COMMAND``: the dispatcher (help, each command's own options, unknown names, the
launcher's re-execution), the ``python -m`` forms it replaces, and the package built and
installed without the repository (``pip install .``, not editable): ``lttfs train`` on
the shipped default configs and ``lttfs inspect`` of a real sweep, from outside the
repository (slow: builds a wheel)."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from learning.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
# what a build needs from the repository (as in its sdist)
SOURCE = ("learning", "config", "hp_optim", "setup.py", "setup.cfg", "pyproject.toml",
          "README.md", "MANIFEST.in")
# tests/training/test_train.py's tiny PPO budget, for the shipped default config
TINY = ["rl_config.num_timesteps=128", "rl_config.n_steps=64", "rl_config.batch_size=32",
        "rl_config.n_epochs=2", "rl_config.verbose=0", "rl_common_config.random_seed=7",
        "rl_common_config.evaluation_episodes=1"]


def lttfs(capsys, *argv: str) -> tuple[int, str, str]:
    """``lttfs ARGV`` in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- the dispatcher


def test_help_lists_every_command_with_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = lttfs(capsys, "--help")
    assert code == 0 and out.startswith("usage: lttfs COMMAND [ARGS ...]")
    for name in ("sweep", "check", "train", "inspect", "confirm", "render"):
        (line,) = [line for line in out.splitlines() if line.strip().startswith(name + " ")]
        assert line.split(None, 1) == [name, COMMANDS[name].summary]
    assert "'lttfs COMMAND --help' shows a command's own options" in " ".join(out.split())


@pytest.mark.parametrize(("name", "own", "not_own"), [
    ("sweep", ["--resume", "--fresh", "--accept-changes", "--stop-grace"], []),
    ("check", ["settings_file"], ["--resume", "--fresh", "--stop-grace"]),
    ("train", ["CONFIG", "ROLE.KEY=VALUE", "Exit codes"], ["--resume"]),
    ("inspect", ["--confirm K", "--confirm-write-only", "--render-output", "--top TOP"], []),
    ("confirm", ["--top K", "--seeds N", "--baseline", "--write-only"],
     ["--render", "--confirm-write-only"]),
    ("render", ["--output GIF", "--metric"], ["--confirm", "--seeds"]),
])
def test_each_command_shows_its_own_options(capsys, name, own, not_own):
    code, out, _ = lttfs(capsys, name, "--help")
    assert code == 0 and out.startswith(f"usage: lttfs {name} ")
    for option in own:
        assert option in out
    for option in not_own:
        assert option not in out


@pytest.mark.parametrize("argv", [["bogus"], ["--bogus"], []])
def test_an_unknown_or_missing_command_exits_2_with_the_list(capsys, argv):
    code, out, err = lttfs(capsys, *argv)
    assert code == 2 and not out
    assert err.startswith("usage: lttfs COMMAND [ARGS ...]")
    if argv == ["bogus"]:
        assert "invalid choice: 'bogus'" in err
        assert all(f"'{name}'" in err for name in COMMANDS)


def test_a_command_s_usage_errors_name_it(capsys):
    code, _, err = lttfs(capsys, "confirm", "results", "--top", "0")
    assert code == 2 and "lttfs confirm: error: --top K: K must be at least 1" in err
    code, _, err = lttfs(capsys, "check", "file.json", "--resume")
    assert code == 2 and "lttfs check: error: unrecognized arguments: --resume" in err


def test_confirm_and_render_are_the_inspect_options():
    from learning.analysis.inspection import parse_args

    confirm = parse_args(["r", "--top", "2", "--seeds", "4", "--baseline", "--write-only"],
                         command="confirm")
    assert vars(confirm) == vars(parse_args(
        ["r", "--confirm", "2", "--seeds", "4", "--baseline", "--confirm-write-only"]))
    assert parse_args(["r"], command="confirm").confirm == 1  # the winner
    render = parse_args(["r", "--output", "a.gif", "--no-report"], command="render")
    assert vars(render) == vars(parse_args(
        ["r", "--render", "--render-output", "a.gif", "--no-report"]))


def test_train_without_a_config_trains_on_the_shipped_default():
    from learning.__main__ import parse_args
    from learning.contract import DEFAULT_CONFIG, DEFAULT_CONFIG_DIR, IN_CHECKOUT

    assert IN_CHECKOUT and DEFAULT_CONFIG_DIR == REPO / "config"  # the checkout first
    assert parse_args([]).config == str(DEFAULT_CONFIG) == str(REPO / "config/config.json")
    args = parse_args(["rl_config.n_steps=64", "hysr_config.robot_position:0=0.2"])
    assert args.config == str(DEFAULT_CONFIG)
    assert args.overrides == ["rl_config.n_steps=64", "hysr_config.robot_position:0=0.2"]
    args = parse_args(["config/config_sac.json", "rl_config.batch_size=32"])
    assert (args.config, args.overrides) == ("config/config_sac.json", ["rl_config.batch_size=32"])


def test_one_console_script():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    scripts = setup["options.entry_points"]["console_scripts"].split()
    assert scripts == ["lttfs", "=", "learning.cli:main"]


@pytest.mark.parametrize(("module", "prog"), [
    ("learning", "python -m learning"),
    ("learning.launch", "python -m learning.launch"),
    ("learning.sweep", "python -m learning.sweep"),
    ("learning.analysis.inspection", "python -m learning.analysis.inspection"),
    ("learning.sweep.inspection", "python -m learning.sweep.inspection"),
    ("learning.cli", "lttfs"),
])
def test_the_python_m_forms_keep_working(module, prog):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {prog} ")


SITECUSTOMIZE = """
import os, sys
with open(os.environ["ARGV_LOG"], "a") as f:
    f.write(repr(sys.orig_argv[1:]) + "\\n")
"""


def test_lttfs_sweep_re_executes_as_python_m_learning_launch(tmp_path):
    """The launcher re-executes itself once with its sweep tag: started as ``lttfs sweep
    FILE``, as ``python -m learning.launch FILE`` (not with ``sweep`` as the file). Every
    interpreter start is logged by a sitecustomize; the missing file stops the sweep
    after the re-execution, before anything starts."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log, missing = tmp_path / "argv.log", tmp_path / "missing.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]),
               ARGV_LOG=str(log))
    result = subprocess.run([sys.executable, "-m", "learning.cli", "sweep", str(missing),
                             "results_dir=\"/tmp/x\""], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert f"sweep error: {missing}: no such file" in result.stderr
    starts = log.read_text().splitlines()
    assert starts == [repr(["-m", "learning.cli", "sweep", str(missing), 'results_dir="/tmp/x"']),
                      repr(["-m", "learning.launch", str(missing), 'results_dir="/tmp/x"'])]
    # a usage error or --help comes before the re-execution, under the name typed
    log.unlink()
    result = subprocess.run([sys.executable, "-m", "learning.cli", "sweep", "--bogus"],
                            cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2 and "lttfs sweep: error:" in result.stderr
    assert len(log.read_text().splitlines()) == 1


# --------------------------------------------------------------------------- installed


def build_and_install(tmp_path: Path) -> tuple[Path, Path]:
    """The repository's build inputs copied, an sdist made of them, a wheel of the sdist
    (MANIFEST.in must carry the configs), installed non-editable into a folder (no
    dependencies, no downloads): (the wheel, the folder)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    sdist = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.build_sdist(sys.argv[1]))", str(tmp_path / "dist")],
        cwd=source, capture_output=True, text=True, timeout=300, check=False)
    assert sdist.returncode == 0, sdist.stderr
    archive = tmp_path / "dist" / sdist.stdout.split()[-1]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheel = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(tmp_path / "wheels"), str(archive)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    (built,) = (tmp_path / "wheels").glob("lttfs-*.whl")
    site = tmp_path / "site"
    install = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target",
                              str(site), str(built)],
                             capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    return built, site


@pytest.mark.slow
def test_the_installed_package_trains_and_inspects_outside_the_repository(tmp_path,
                                                                           sweep_copy):
    built, site = build_and_install(tmp_path)
    with zipfile.ZipFile(built) as wheel:
        names = set(wheel.namelist())
        shipped = {f"learning/defaults/config/{p.name}": p for p in REPO.glob("config/*.json")}
        shipped.update({f"learning/defaults/hp_optim/{p.name}": p
                        for p in REPO.glob("hp_optim/config_templates_*.json")})
        assert "learning/defaults/config/config.json" in shipped
        for name, original in shipped.items():
            assert wheel.read(name) == original.read_bytes(), name
        assert not [n for n in names if n.startswith("learning/defaults/hp_optim/ppo")]
        assert {"learning/cli.py", "learning/envs/assets/robot.xml"} <= names
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert wheel.read(entry_points).decode().split() == [
            "[console_scripts]", "lttfs", "=", "learning.cli:main"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), MPLBACKEND="Agg")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=400, check=False)

    where = run(sys.executable, "-c", "import learning, learning.contract as c; "
                "print(learning.__file__, c.IN_CHECKOUT, c.DEFAULT_CONFIG)")
    assert where.returncode == 0, where.stderr
    package, in_checkout, default = where.stdout.split()
    packaged = site / "learning" / "defaults" / "config" / "config.json"
    assert Path(package).is_relative_to(site) and in_checkout == "False"
    assert default == str(packaged)
    # the generated console script, no config: the packaged default, tiny
    lttfs_script = site / "bin" / "lttfs"
    trained = run(str(lttfs_script), "train", *TINY)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    info = json.loads((elsewhere / "logs" / "run_info.json").read_text())
    assert Path(info["config"]) == packaged.resolve()
    assert (elsewhere / "models" / "model.zip").is_file()
    assert json.loads((elsewhere / "logs" / "evaluation.json").read_text())
    # the packaged config named explicitly, the SAC one beside it
    trained = run(str(lttfs_script), "train", str(packaged.with_name("config_sac.json")),
                  "rl_config.num_timesteps=64", "rl_config.learning_starts=32",
                  "rl_config.batch_size=32", "rl_config.buffer_size=1000",
                  "rl_config.verbose=0", "rl_config.log_path=sac_logs",
                  "rl_config.save_path=sac/model.zip", "rl_common_config.evaluation_episodes=1")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert (elsewhere / "sac" / "model.zip").is_file()
    inspected = run(str(lttfs_script), "inspect", str(sweep_copy))
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    assert f"{sweep_copy}: HP_OPTIMIZATION, finished; 4 job(s) reported" in inspected.stdout
    # the job script is in the repository, which this installation does not know
    assert "\n  cd <your lttfs checkout> && " in inspected.stdout
    assert (sweep_copy / "report.html").is_file()
    output = (inspected.stdout + inspected.stderr).replace(sys.executable, "PYTHON")
    assert str(REPO) not in output  # (the interpreter is the repository's venv's)
