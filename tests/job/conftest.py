"""Jobs in these tests run from the project directory, as cluster_utils starts them."""

import os

import pytest
from job_helpers import REPO


@pytest.fixture(autouse=True)
def _project_cwd_and_cache(monkeypatch):
    """Jobs run from the project directory (like cluster_utils); it needs ~/.cache."""
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    monkeypatch.chdir(REPO)
