"""The documentation's text as the tests read it: the pages (docs/*.md) and README.md, their
fenced code blocks and inline code, and the generator of the reference (docs/_ext)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [REPO / "README.md"]

FENCE = re.compile(r"^(```+|:::+)\s*\{?([\w-]*)\}?[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def code_blocks(page: Path, *languages: str) -> list[str]:
    """The page's fenced blocks in ``languages`` (all when none given)."""
    return [m.group(3) for m in FENCE.finditer(text(page))
            if not languages or m.group(2) in languages]


def inline_code(page: Path) -> list[str]:
    prose = FENCE.sub("", text(page))
    return INLINE.findall(prose)


def command_lines(page: Path) -> list[str]:
    """Commands of the page's bash blocks and inline code: one per line, comments and
    continuation lines joined, prompts and the venv's bin/ dropped."""
    lines = []
    for block in code_blocks(page, "bash", "sh", "console"):
        block = block.replace("\\\n", " ")
        lines += [line.split(" #", 1)[0].strip() for line in block.splitlines()]
    lines += inline_code(page)
    commands = []
    for line in lines:
        line = line.strip().removeprefix("$ ")
        for part in re.split(r"\s*(?:&&|\|\||;)\s*", line):
            part = re.sub(r"^(?:\S+=\S+\s+)*", "", part)  # VAR=value prefixes
            part = re.sub(r"^(?:taskset -c \S+\s+|nohup\s+|sudo\s+)", "", part)
            part = re.sub(r"^(?:\./)?\.venv/bin/", "", part)
            if part:
                commands.append(part)
    return commands


def load_reference():
    """docs/_ext/lttfs_reference.py, the generator of the reference pages."""
    name = "lttfs_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
