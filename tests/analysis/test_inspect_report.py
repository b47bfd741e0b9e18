"""report.html: self-contained, with its figures; the printed rerun command runs."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess

import imageio.v3 as iio
import pytest

FIGURES = ("metric over jobs", "metric vs parameters", "parameter importance",
           "learning curves")


@pytest.mark.slow
def test_report_embeds_its_figures(sweep_copy, inspect_cli):
    code, out, err = inspect_cli(sweep_copy)
    assert code == 0, err
    report = sweep_copy / "report.html"
    assert f"report: {report}" in out
    page = report.read_text()
    images = dict(re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page))
    assert set(FIGURES) <= set(images)
    for alt in FIGURES:
        png = base64.b64decode(images[alt])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = iio.imread(png)
        assert pixels.shape[0] > 150 and pixels.shape[1] > 300
        assert pixels.std() > 10  # a drawn figure, not a blank canvas
    # self-contained: no external resources
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)
    # the ranked table, the rerun command and the merged-config folder are on the page
    best = re.search(r"rerun the best job \(job (\d+)\)", out).group(1)
    command = out.split("into a new folder:\n  ")[1].splitlines()[0]
    assert html.escape(command) in page
    assert f"best_jobs/directories_{best}/run_0.0-0/config" in page
    assert "<h2>Best jobs</h2>" in page and "<h2>Parameter importance</h2>" in page


@pytest.mark.slow
def test_printed_rerun_command_runs(sweep_copy, inspect_cli):
    code, out, err = inspect_cli(sweep_copy, "--no-report")
    assert code == 0, err
    best = re.search(r"rerun the best job \(job (\d+)\)", out).group(1)
    command = out.split("into a new folder:\n  ")[1].splitlines()[0]
    assert f"run_learning.py {sweep_copy}/best_jobs/directories_{best}/settings.json" in command
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    reruns = list((sweep_copy / "reruns").glob(f"directories_{best}-*"))
    assert len(reruns) == 1
    state = json.loads((reruns[0] / "job_state.json").read_text())
    assert state["status"] == "finished" and len(state["runs"]) == 2
    assert (reruns[0] / "metrics.csv").is_file()
    original = json.loads(
        (sweep_copy / "best_jobs" / f"directories_{best}" / "settings.json").read_text()
    )
    rerun = json.loads((reruns[0] / "settings.json").read_text())
    assert rerun["config"] == original["config"]
