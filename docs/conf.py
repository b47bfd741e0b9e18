"""Sphinx configuration: `make docs` builds docs/_build/html (offline; CI with -W)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the package, as the checkout's editable install
sys.path.insert(0, str(DOCS / "_ext"))

project = "lttfs"
author = "the lttfs developers"
copyright = "the lttfs developers"  # noqa: A001 (Sphinx's name)
try:
    from importlib.metadata import version as _version

    release = _version("lttfs")
except Exception:  # noqa: BLE001 (not installed: the docs still build)
    release = "unknown"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from _static: the site works offline
    "sphinxarg.ext",
    "lttfs_reference",  # docs/_ext: the generated reference (config, job settings, env)
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
# nothing is fetched while building: no intersphinx, no remote images
suppress_warnings: list[str] = []
nitpicky = False
# options such as --resume stay as typed (no en dashes, no curly quotes)
smartquotes = False

# MyST: Markdown pages; $$...$$ math (the env's docstring), heading anchors for links
# like [text](training.md#exit-codes), which the build checks
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 4

# autodoc: the public modules (api.md); the docstrings are reST, but the env's spec is
# Markdown and has its own page (docs/_ext/lttfs_reference.py points to it)
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_inherit_docstrings = False  # gymnasium's own (Google style) are not ours
autodoc_typehints_format = "short"
autodoc_mock_imports: list[str] = []

html_theme = "furo"
html_title = f"lttfs {release}"
html_static_path = ["_static"]
html_css_files = ["lttfs.css"]
html_theme_options = {
    "source_repository": "",
    "navigation_with_keys": True,
}
html_show_sourcelink = False
