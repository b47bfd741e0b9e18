"""The site builds with warnings as errors, and a default changed in the code reaches the
built config reference without any Markdown edited. Needs the `docs` extra (`make docs`
installs it; skipped without Sphinx, as in CI's `make test`, which runs before `make docs`
builds the site itself); a copy of docs/ is built in-process (about 6 s)."""

from __future__ import annotations

import shutil

import pytest
from docs_text import DOCS

from learning.config import rl
from learning.envs import table_tennis_roles as roles

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

# myst-parser 5.2 still uses Sphinx APIs that Sphinx 11 will remove (no build warning)
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Check CHANGES")


def build(source, out) -> int:
    from sphinx.cmd.build import build_main

    return build_main(["-b", "html", "-W", "--keep-going", "-q", "-E", str(source),
                       str(out)])


def test_a_changed_default_and_range_reach_the_built_site(tmp_path, monkeypatch):
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "_generated"))
    monkeypatch.setitem(rl.RL_RANGES, "gamma", (0.5, 1, True, False))
    monkeypatch.setitem(rl.RL_COMMON_DEFAULTS, "checkpoint_interval", 12345)
    monkeypatch.setitem(roles.BOUNDS["hysr_config"], "trajectory", roles.Bound(-7))
    assert build(source, tmp_path / "html") == 0  # -W: no warning either
    page = (tmp_path / "html" / "config.html").read_text()
    assert "number (0.5, 1]" in page
    assert "12345" in page
    assert "&gt;= -7" in page
    assert (tmp_path / "html" / "commands.html").read_text().count("--stop-grace") >= 1
    environment = (tmp_path / "html" / "environment.html").read_text()
    assert "Observation Space" in environment and "stiffness_per_bar" in environment
    assert (tmp_path / "html" / "_static" / "mathjax").is_dir()  # offline formulae


@pytest.mark.parametrize("breakage", [
    "[a page that is not there](nowhere.md)",
    "[a section that is not there](sweeps.md#no-such-section)",
    "```{eval-rst}\n.. automodule:: learning.no_such_module\n```",
])
def test_a_broken_link_or_autodoc_target_fails_the_build(tmp_path, breakage):
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "_generated"))
    page = source / "limits.md"
    page.write_text(page.read_text() + "\n" + breakage + "\n")
    assert build(source, tmp_path / "html") != 0
