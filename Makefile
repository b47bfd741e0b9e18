# The commands README documents; CI (.ci/run) and developers use the same ones.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the suite's one command (docs/commands.md); `$(PY) -m learning...` runs the same code
LTTFS := $(VENV)/bin/lttfs
# pytest arguments, e.g. `make test PYTEST_ARGS="-m 'not slow'"`
PYTEST_ARGS ?=
# Reuse the packages of $(PYTHON)'s own environment, above all a torch that is already
# installed (a cluster's module, a CUDA build): `make setup PYTHON=python3 SYSTEM_PACKAGES=1`
# makes the venv with --system-site-packages and installs no torch of its own when that
# python imports one.
SYSTEM_PACKAGES ?=
# An extra requirement for the venv, e.g. NUMPY='numpy<2' (the second stack CI tests)
NUMPY ?=
# The extras the venv gets: the test tools and rliable's statistics (setup.cfg)
EXTRAS ?= test,stats
TORCH := torch==2.13.0
SHOW_TORCH := import torch; print('using the installed torch', torch.__version__, torch.__file__)

.PHONY: setup demo inspect train test test-numpy1 lint bench docs clean

# Set up from nothing: Debian packages (headless rendering), a virtual environment,
# the CPU build of torch first (a bare `torch` requirement would pull several GB of
# CUDA packages; with SYSTEM_PACKAGES, the torch already there), then the project with
# its test tools.
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg setup.py pyproject.toml scripts/install_system_packages.sh
	bash scripts/install_system_packages.sh
	mkdir -p $(HOME)/.cache  # cluster-utils 3.0.0 fails without it
	$(PYTHON) -m venv $(if $(SYSTEM_PACKAGES),--system-site-packages) $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(SYSTEM_PACKAGES),$(PY) -c "$(SHOW_TORCH)" || )$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]' $(if $(NUMPY),'$(NUMPY)')
	touch $@

RESULTS ?= results/ppo_local

# The main job: a small hyperparameter optimization on this machine (cluster_utils'
# local mode, non-interactive), on the embedded default templates, through the launcher
# (pre-flight checks; --fresh moves an earlier demo's results aside); then the winner and
# the shipped defaults are rerun on 3 fresh seeds and the verdict says whether it wins.
DEMO_SEEDS ?= 3
demo: setup
	$(LTTFS) sweep hp_optim/ppo_local.json --fresh 'results_dir="$(CURDIR)/results"'
	$(LTTFS) confirm results/ppo_local --top 1 --seeds $(DEMO_SEEDS) --baseline

# Ranked table + report.html of an optimization: make inspect RESULTS=results/<name>
inspect: setup
	$(LTTFS) inspect $(RESULTS)

# One training run from config/config.json (PPO defaults, 200k steps: ~4-8 min).
train: setup
	$(LTTFS) train config/config.json

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The second stack: numpy 1 (`make setup` resolves numpy 2) and pandas 3, without rliable
# (the inspection's fallback statistics), in its own venv, the quick tests plus a real
# tiny sweep whose Discrete int and bool samples must reach the jobs as Python values
# (tests marked `stack`). CI runs it after `make test`.
test-numpy1:
	$(MAKE) test VENV=.venv-numpy1 NUMPY='numpy<2' EXTRAS=test PYTEST_ARGS="-m '(not slow or stack) and not slurm'"

lint: setup
	$(VENV)/bin/ruff check .

# The documentation site (docs/, README "Documentation"): the `docs` extra (Sphinx, MyST,
# furo, sphinx-argparse; Python >= 3.11) into the venv, then an offline build into
# docs/_build/html with warnings as errors, so a broken link or cross-reference, a missing
# page or a stale autodoc target fails it (CI runs it after the tests).
SPHINXOPTS ?= -W --keep-going
docs: $(VENV)/.docs-installed
	$(PY) -m sphinx -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "docs: file://$(CURDIR)/docs/_build/html/index.html"

$(VENV)/.docs-installed: $(VENV)/.installed setup.cfg
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $@

bench: setup
	$(PY) benchmarks/env_speed.py
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/sweep_efficiency.py
	$(PY) benchmarks/search_efficiency.py
	$(PY) benchmarks/learning_curve.py
	$(PY) benchmarks/faults.py
	$(PY) benchmarks/demo_verdicts.py
	$(PY) benchmarks/zoo_reference.py --task pendulum_ppo --seeds 4
	$(PY) benchmarks/zoo_reference.py --task pendulum_sac --seeds 4

clean:
	rm -rf $(VENV) .venv-numpy1 results runs benchmarks/output docs/_build docs/_generated
