"""What the documentation tells a reader to run exists: every command and option shown
(``lttfs ...``, ``python -m ...``, the benchmark scripts, ``make ...``), every file named,
and every shipped hp_optim file cited passes the sweep's pre-flight. Quick: nothing trains."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
from docs_text import DOCS, PAGES, REPO, code_blocks, command_lines, text

from learning import cli

FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
#: commands the docs name on purpose although they no longer exist (the original
#: project's module names, renamed upstream)
HISTORICAL_MODULES = {"cluster.hp_optimization", "cluster.grid_search"}
#: programs of the system or of other projects: not checked here
OTHER_PROGRAMS = {"cd", "git", "module", "tensorboard", "apptainer", "singularity", "sbatch",
                  "scancel", "sinfo", "xdg-open", "bash", "PATH", "pip", "chromium"}


def all_commands() -> list[tuple[str, str]]:
    return [(page.name, command) for page in PAGES for command in command_lines(page)]


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.full_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def module_parsers() -> dict[str, argparse.ArgumentParser]:
    from learning.__main__ import make_parser as learner
    from learning.analysis.inspection import make_parser as inspection
    from learning.launch.launcher import make_parser as launcher

    return {"learning": learner(), "learning.launch": launcher(), "learning.sweep": launcher(),
            "learning.analysis.inspection": inspection(),
            "learning.sweep.inspection": inspection()}


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def test_the_docs_show_commands():
    programs = {command.split()[0] for _, command in all_commands()}
    assert {"lttfs", "python", "make"} <= programs


def test_every_lttfs_command_and_option_shown_exists():
    parsers = subcommand_parsers()
    top = options(cli.command_parser())
    for page, command in all_commands():
        words = command.split()
        if words[0] != "lttfs":
            continue
        if len(words) == 1 or words[1].startswith("-"):
            assert set(FLAG.findall(command)) <= top, (page, command)
            continue
        name = words[1]
        if name.isupper():  # a placeholder: lttfs COMMAND --help
            assert set(FLAG.findall(command)) <= {"--help", "-h"}, (page, command)
            continue
        assert name in parsers, f"{page}: {command!r}: no command {name!r}"
        unknown = set(FLAG.findall(" ".join(words[2:]))) - options(parsers[name])
        assert not unknown, f"{page}: {command!r}: {name} has no option {unknown}"


def test_every_python_module_and_script_shown_exists():
    parsers = module_parsers()
    for page, command in all_commands():
        words = command.split()
        if words[0] not in ("python", "python3") or len(words) < 2:
            continue
        if words[1] == "-m":
            if len(words) < 3:
                continue  # "the `python -m` forms"
            module = words[2]
            if module in HISTORICAL_MODULES:
                continue
            assert importlib.util.find_spec(module), f"{page}: {command!r}: no module {module}"
            if module in parsers:
                unknown = set(FLAG.findall(" ".join(words[3:]))) - options(parsers[module])
                assert not unknown, f"{page}: {command!r}: no option {unknown}"
            continue
        script = REPO / words[1]
        assert script.is_file(), f"{page}: {command!r}: no script {words[1]}"
        source = script.read_text()
        if script.parent == REPO:  # a thin entry: the options are its package's
            source += "".join(p.read_text() for p in (REPO / "learning").rglob("*.py"))
        for flag in FLAG.findall(" ".join(words[2:])):
            assert f'"{flag}"' in source, f"{page}: {command!r}: {words[1]} has no {flag}"


def test_every_make_target_shown_exists():
    targets = makefile_targets()
    shown = {command.split()[1] for _, command in all_commands()
             if command.split()[0] == "make" and len(command.split()) > 1
             and all("=" in word for word in command.split()[2:])}  # not "make it ..."
    assert shown, "the docs show make targets"
    assert shown <= targets, shown - targets
    assert {"setup", "demo", "test", "docs"} <= shown


PATH = re.compile(r"(?<![\w./<$-])((?:config|hp_optim|benchmarks|scripts|learning|tests|"
                  r"singularity|docs|\.ci)/[\w./-]*\w)(?![\w*/.-])")
#: paths the docs name that are made by a build or a run, or that stand for the reader's
NOT_IN_THE_REPOSITORY = ("docs/_build", "docs/_generated", "learning/defaults",
                         "benchmarks/output", "mycluster")


def cited_paths() -> list[tuple[str, str]]:
    cited = []
    for page in PAGES:
        for path in PATH.findall(text(page)):
            if re.match(r"learning/[A-Z]", path) or path.startswith(NOT_IN_THE_REPOSITORY) \
                    or any(n in path for n in NOT_IN_THE_REPOSITORY):
                continue  # an env id (learning/TableTennis-v0) or made by a run
            cited.append((page.name, path))
    return cited


def test_every_file_named_exists():
    cited = cited_paths()
    assert len(cited) > 100
    missing = [(page, path) for page, path in cited if not (REPO / path).exists()]
    assert not missing, missing


def cited_sweep_files() -> list[str]:
    names = set()
    for page in PAGES:
        names |= set(re.findall(r"hp_optim/([\w-]+\.json)", text(page)))
    return sorted(n for n in names if not n.startswith("config_templates")
                  and "mycluster" not in n)


#: the cluster files on a machine without Slurm are checked as local runs (as
#: tests/preflight/test_preflight.py does)
AS_LOCAL = ["optimization_setting.run_local=True", "cluster_requirements.request_cpus=1"]


@pytest.mark.parametrize("name", cited_sweep_files())
def test_every_cited_hp_optim_file_passes_the_preflight(tmp_path, monkeypatch, name):
    from learning.launch.sweep_file import read_sweep_file
    from learning.preflight.checks import run_preflight

    monkeypatch.chdir(REPO)
    config = json.loads((REPO / "hp_optim" / name).read_text())
    config["results_dir"] = str(tmp_path / "results")
    overrides = [] if config.get("optimization_setting", {}).get("run_local", True) else AS_LOCAL
    fixed = config.get("fixed_params", {})
    if "singularity.image" in fixed:  # no runtime here: a stand-in and an empty image
        (tmp_path / "lttfs.sif").write_text("")
        fixed["singularity.image"] = str(tmp_path / "lttfs.sif")
        fixed["singularity.executable"] = str(REPO / "tests/container/fake_singularity")
    path = tmp_path / name
    path.write_text(json.dumps(config))
    assert run_preflight(read_sweep_file(path, overrides)).problems == []


def test_python_examples_compile():
    blocks = [(page.name, block) for page in PAGES for block in code_blocks(page, "python")]
    assert blocks
    for page, block in blocks:
        ast.parse(block, filename=page)


def test_json_examples_parse():
    blocks = [(page.name, block) for page in PAGES for block in code_blocks(page, "json")]
    assert blocks
    for page, block in blocks:
        assert page
        json.loads(block if block.lstrip().startswith("{") else "{" + block + "}")


def test_readme_is_short_and_points_to_the_docs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make demo" in readme and "make test" in readme and "make docs" in readme
    assert "docs/_build/html" in readme


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.stem != "index":
            assert re.search(rf"^{re.escape(page.stem)}$", index, re.M), page.name


def test_ci_builds_the_docs_after_the_tests():
    steps = [line.split("#")[0].strip() for line in (REPO / ".ci/run").read_text().splitlines()
             if line.startswith("make ")]
    assert "make test" in steps and "make docs" in steps
    assert steps.index("make docs") > steps.index("make test")
    # and the docs tests run once more with Sphinx installed (the build tests skip without)
    assert 'make test PYTEST_ARGS="tests/docs"' in steps[steps.index("make docs"):]
    assert "docs" in makefile_targets()


def test_the_report_screenshot_is_small():
    shot = DOCS / "_static" / "report.png"
    assert shot.stat().st_size < 300_000
    assert "_static/report.png" in (DOCS / "inspection.md").read_text()


def test_each_command_has_a_function_returning_its_parser():
    for name, command in cli.COMMANDS.items():
        parser = command.parser(f"lttfs {name}")
        assert isinstance(parser, argparse.ArgumentParser)
        assert parser.prog == f"lttfs {name}"
    assert set(subcommand_parsers()) == set(cli.COMMANDS)


def test_the_docs_pages_exist_for_every_readme_pointer():
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Documentation", 1)[1].split("## Layout", 1)[0]
    titles = {re.sub(r"[`*]", "", text(page).splitlines()[0].lstrip("# ")).strip().lower()
              for page in DOCS.glob("*.md")}
    for row in re.findall(r"^\| ([^|]+) \|", table, re.M)[2:]:
        for name in row.split(","):
            name = name.strip().lower()
            assert any(title.startswith(name) for title in titles), (name, sorted(titles))


def test_every_page_the_index_lists_exists():
    """Every page the site's index lists exists (the build checks the rest)."""
    index = (DOCS / "index.md").read_text()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.S):
        for line in block.splitlines():
            if line and not line.startswith(":"):
                assert Path(DOCS / f"{line.strip()}.md").is_file(), line
