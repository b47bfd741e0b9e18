"""The inspection of a population-based-training sweep: the ranked table marks the jobs
that exploited others, report.html shows the best job's lineage, a schedule plot per
mutated parameter and the population's metric over iterations; a sweep without lineages
looks as before; a lineage file that is damaged, inconsistent or hostile is skipped with a
note or shown escaped. The real sweep: tiny_sweep.PBT_GRID (conftest's pbt_root)."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import imageio.v3 as iio
import matplotlib
import pytest
from test_inspect_hostile_text import (
    ATTRIBUTE,
    MATHTEXT,
    REPORT_TAGS,
    SCRIPT,
    ReportPage,
    assert_drawn_as_written,
)

from learning.analysis import lineage_plots
from learning.analysis.lineage import (
    MAX_ITERATIONS,
    SweepLineages,
    read_sweep_lineages,
    values_per_iteration,
)
from learning.analysis.lineage_report import lineage_table
from learning.contract import LINEAGE_DIR, SWEEP_LINEAGE_FILE
from learning.records.lineage import Exploit, Lineage, ScheduleEntry, Skip, values_at

LR = "config.rl_config.learning_rate"
SECTION = "<h2>Population-based training</h2>"
FIGURES: list = []


def record_figure(figure) -> None:
    FIGURES.append(figure)


def lineage_files(root: Path) -> dict[int, dict]:
    """The lineage files as plain JSON (not through the reader under test)."""
    return {int(path.stem.split("_")[1]): json.loads(path.read_text())
            for path in (root / LINEAGE_DIR).glob("job_*.json")}


def table_rows(out: str) -> dict[int, str]:
    """The printed table's lines by job id (the second column)."""
    rows = {}
    for line in out.split("\n\n")[1].splitlines()[1:]:
        rank, job, *_ = line.split()
        rows[int(job)] = line
    return rows


def images(page: str) -> dict[str, bytes]:
    found = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    return {alt: base64.b64decode(data) for alt, data in found}


def exploit(k: int, donor: int, before: float = 1e-3, after: float = 2e-3) -> Exploit:
    return Exploit(iteration=k, donor=donor, donor_iteration=k, own_value=-2.0,
                   donor_value=-1.0, before={LR: before}, donor_values={LR: before},
                   after={LR: after}, moves={LR: "x1.2"}, timesteps=[128], model_sha256=["0"],
                   time=0.0)


def lineage(job: int, start: float, *exploits: Exploit, iterations: int = 4) -> Lineage:
    schedule = [ScheduleEntry(0, {LR: start})]
    schedule += [ScheduleEntry(e.iteration, dict(e.after)) for e in exploits]
    return Lineage(job_id=job, metric="mean_eval_reward", training_iterations=iterations,
                   mutations=[LR], schedule=schedule, exploits=list(exploits),
                   decided=list(range(1, iterations)))


# ------------------------------------------------------------- the reader, without a sweep


def test_ancestry_follows_each_donor_back_to_before_the_copied_iteration():
    """Job 2 copied job 1 after 3; job 1 had copied job 0 after 1 (and job 2 after 3, too
    late to matter for its checkpoint after 3): job 2's final model was trained by job 0
    (iteration 1), job 1 (2-3), job 2 (4)."""
    lineages = SweepLineages({
        0: lineage(0, 1e-3),
        1: lineage(1, 3e-3, exploit(1, 0, 3e-3, 5e-4), exploit(3, 2, 5e-4, 7e-4)),
        2: lineage(2, 1e-2, exploit(3, 1, 1e-2, 6e-4)),
    })
    assert [(s.job_id, s.first, s.last) for s in lineages.ancestry(2)] == \
        [(0, 1, 1), (1, 2, 3), (2, 4, 4)]
    assert [v[LR] for v in lineages.ancestry_values(2)] == [1e-3, 5e-4, 5e-4, 6e-4]
    assert [v[LR] for v in values_per_iteration(lineages.jobs[2])] == [1e-2] * 3 + [6e-4]
    assert lineages.exploited_label(1) == "exploited after 1, 3 (from jobs 0, 2)"
    assert lineages.exploited_label(2) == "exploited after 3 (from job 1)"
    assert lineages.exploited_label(0) == "" and lineages.exploited_label(7) == ""
    # the report's table of the job's decisions: exploits and skips in iteration order
    lineages.jobs[2].skipped.append(Skip(1, "job 0: no complete checkpoint"))
    table = lineage_table(lineages, 2, {LR: "learning_rate"})
    assert table.to_dict("records") == [
        {"after iteration": 1, "continued from": "itself (no donor usable)",
         "its metric, the donor's": "-", "its values": "-", "the donor's": "-",
         "explored from the donor's": "job 0: no complete checkpoint"},
        {"after iteration": 3, "continued from": "job 1", "its metric, the donor's": "-2, -1",
         "its values": "learning_rate 0.01", "the donor's": "learning_rate 0.01",
         "explored from the donor's": "learning_rate 0.0006 (x1.2)"}]
    # a donor without a lineage: its part of the history is unknown
    del lineages.jobs[1]
    assert [(s.job_id, s.first, s.last, s.known) for s in lineages.ancestry(2)] == \
        [(1, 1, 3, False), (2, 4, 4, True)]


def test_a_lineage_that_does_not_hold_together_is_skipped_with_a_note(tmp_path):
    folder = tmp_path / LINEAGE_DIR
    folder.mkdir()
    good = lineage(0, 1e-3)
    beyond = lineage(1, 1e-3, exploit(2, 0))
    beyond.exploits[0].iteration = 9  # after iteration 9 of a job of 4
    copied_later = lineage(2, 1e-3, exploit(2, 0))
    copied_later.exploits[0].donor_iteration = 3  # the donor's future: a loop
    for job, item in enumerate([good, beyond, copied_later]):
        (folder / f"job_{job}.json").write_text(json.dumps(asdict(item)))
    (folder / "job_3.json").write_text(json.dumps(asdict(good)))  # job 0's
    unordered = lineage(5, 1e-3, exploit(1, 0), exploit(2, 0))
    unordered.schedule.reverse()
    (folder / "job_5.json").write_text(json.dumps(asdict(unordered)))
    (folder / "job_4.json").write_text('{"format": "lttfs-lineage/1", "job_id": 4, "sch')
    notes: list[str] = []
    lineages = read_sweep_lineages(tmp_path, notes)
    assert list(lineages.jobs) == [0]
    assert len(notes) == 1
    assert "job_1.json (an exploit after iteration 9, outside 1..3)" in notes[0]
    assert "job_2.json (the exploit after iteration 2 copied the donor's checkpoint after" \
           " iteration 3" in notes[0]
    assert "job_3.json (names job 0)" in notes[0]
    assert "job_4.json (unreadable, or not of the format lttfs-lineage/1)" in notes[0]
    assert "job_5.json (its schedule's entries start at iterations [2, 1, 0], not in" \
           " increasing order)" in notes[0]
    assert not read_sweep_lineages(tmp_path / "elsewhere")


def test_values_per_iteration_are_the_jobs_values_at_each_iteration():
    """As learning.records.lineage.values_at, the job's own rule, for schedules starting
    late, repeating values and changing several parameters."""
    schedules = [[(0, {LR: 1}), (2, {LR: 1}), (3, {LR: 2, "b": 1})],
                 [(2, {LR: 5})], [], [(0, {LR: 1}), (1, {LR: 2}), (5, {LR: 3})]]
    for entries in schedules:
        job = Lineage(job_id=0, training_iterations=6,
                      schedule=[ScheduleEntry(k, values) for k, values in entries])
        assert values_per_iteration(job) == [values_at(job.schedule, i) for i in range(6)]


def test_schedule_plot_draws_hostile_values_as_written(monkeypatch):
    """Non-numeric values (a string someone wrote) are categories, drawn as written."""
    FIGURES.clear()
    monkeypatch.setitem(matplotlib.rcParams, "figure.hooks", [f"{__name__}:record_figure"])
    lineages = SweepLineages({0: lineage(0, MATHTEXT, exploit(2, 1, MATHTEXT, SCRIPT)),
                              1: lineage(1, ATTRIBUTE)})
    png = lineage_plots.schedule(lineages, LR, MATHTEXT, best=0)
    assert png.startswith(b"\x89PNG")
    assert_drawn_as_written(FIGURES, [MATHTEXT, SCRIPT, ATTRIBUTE])
    FIGURES.clear()


# ------------------------------------------------------------------ the real tiny sweep


@pytest.fixture
def pbt_copy(pbt_root, tmp_path) -> Path:
    """A private copy of the PBT sweep (the inspection rebuilds its pbt_lineage.json)."""
    root = tmp_path / "results" / pbt_root.name
    shutil.copytree(pbt_root, root)
    return root


@pytest.mark.slow
def test_table_marks_exactly_the_jobs_that_exploited(pbt_copy, inspect_cli):
    code, out, err = inspect_cli(pbt_copy, "--no-report")
    assert code == 0, err
    assert " pbt " in out.split("\n\n")[1].splitlines()[0]
    files = lineage_files(pbt_copy)
    rows = table_rows(out)
    assert set(rows) == set(files) == set(range(6))
    assert any(files[job]["exploits"] for job in files)  # the far jobs exploit near ones
    for job, data in files.items():
        exploits = data["exploits"]
        if not exploits:
            assert "exploited" not in rows[job]
            continue
        after = ", ".join(str(e["iteration"]) for e in exploits)
        donors = ", ".join(str(e["donor"]) for e in exploits)
        plural = "s" if len(exploits) > 1 else ""
        assert f"exploited after {after} (from job{plural} {donors})" in rows[job]
    assert "lineages skipped" not in out


@pytest.mark.slow
def test_report_shows_the_best_jobs_lineage_and_a_schedule_per_mutated_parameter(
        pbt_copy, inspect_cli):
    (pbt_copy / SWEEP_LINEAGE_FILE).unlink()
    code, out, err = inspect_cli(pbt_copy)
    assert code == 0, err
    page = (pbt_copy / "report.html").read_text()
    best = int(re.search(r"rerun the best job \(job (\d+)\)", out).group(1))
    files = lineage_files(pbt_copy)
    best_lineage = files[best]
    # the sweep's global file, rebuilt from the jobs' files as the jobs do
    rebuilt = json.loads((pbt_copy / SWEEP_LINEAGE_FILE).read_text())
    assert rebuilt == {"format": "lttfs-lineage-sweep/1",
                       "jobs": {str(job): files[job] for job in sorted(files)}}
    assert SECTION in page
    assert f"<h3>The lineage of the best job (job {best})</h3>" in page
    section = page.split(SECTION)[1]
    decisions, history = section.split("Its final model's training")
    for e in best_lineage["exploits"]:  # a row per exploit: after k, from its donor
        assert re.search(rf"<td>{e['iteration']}</td>\s*<td>job {e['donor']}</td>", decisions)
    # its final model's history covers iterations 1..3, the last ones trained by itself
    spans = re.findall(r"<td>(\d+(?:-\d+)?)</td>\s*<td>job (\d+)</td>\s*<td>learning_rate",
                       history)
    assert spans[-1][1] == str(best)
    covered = [k for span, _ in spans
               for k in range(int(span.split("-")[0]), int(span.split("-")[-1]) + 1)]
    assert covered == [1, 2, 3]
    figures = images(page)
    assert [alt for alt in figures if alt.startswith("schedule of ")] == \
        ["schedule of learning_rate"]  # pbt.mutations: the learning rate only
    for alt in ("schedule of learning_rate", "population metric over iterations"):
        pixels = iio.imread(figures[alt])
        assert pixels.shape[0] > 200 and pixels.shape[1] > 500 and pixels.std() > 10
    # the population's metric replaces the plain metric over iterations
    assert "<h2>The metric over training iterations</h2>" not in page
    assert "<th>pbt</th>" in page


@pytest.mark.slow
def test_a_sweep_without_lineages_has_no_pbt_column_or_section(pbt_copy, inspect_cli):
    root = pbt_copy
    shutil.rmtree(root / LINEAGE_DIR)
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert " pbt " not in out.split("\n\n")[1].splitlines()[0]
    page = (root / "report.html").read_text()
    assert "Population-based training" not in page and "<th>pbt</th>" not in page
    assert "<h2>The metric over training iterations</h2>" in page


@pytest.mark.slow
def test_damaged_and_hostile_lineage_files(pbt_copy, inspect_cli):
    """Damaged or inconsistent files are skipped with a note; HTML and mathtext in the
    values, moves, reasons and metric of the others are shown as text."""
    root = pbt_copy
    folder = root / LINEAGE_DIR
    (folder / "job_5.json").write_text((folder / "job_5.json").read_text()[:100])
    four = json.loads((folder / "job_4.json").read_text())
    (folder / "job_4.json").write_text(json.dumps(dict(four, job_id=9)))
    three = json.loads((folder / "job_3.json").read_text())
    (folder / "job_3.json").write_text(json.dumps(dict(three, training_iterations=10**9)))
    for job in (0, 1, 2):
        data = json.loads((folder / f"job_{job}.json").read_text())
        data["metric"] = SCRIPT
        data["schedule"][-1]["values"] = {LR: ATTRIBUTE}
        data["skipped"] = [{"iteration": 1, "reason": MATHTEXT + SCRIPT}]
        for e in data["exploits"]:
            e["moves"] = {LR: SCRIPT}
            e["after"] = {LR: MATHTEXT}
        (folder / f"job_{job}.json").write_text(json.dumps(data))
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert "population-based-training lineages skipped: job_3.json (training_iterations" \
        f" 1000000000 is not between 1 and {MAX_ITERATIONS}); job_4.json (names job 9);" \
        " job_5.json (unreadable, or not of the format lttfs-lineage/1)" in out
    page = (root / "report.html").read_text()
    assert SECTION in page
    parsed = ReportPage(page)
    assert {tag for tag, _ in parsed.tags} <= REPORT_TAGS | {"h3"}
    shown = "\n".join(parsed.text)
    for literal in (SCRIPT, MATHTEXT + SCRIPT, ATTRIBUTE):
        assert literal in shown and html.escape(literal, quote=False) in page
    assert "<script" not in page and "<img src=x" not in page
    assert "schedule of learning_rate" in images(page)


@pytest.mark.slow
def test_a_read_only_sweep_is_inspected_without_rebuilding_its_lineage_file(
        pbt_copy, inspect_cli, read_only_view):
    view = read_only_view(pbt_copy)
    code, out, err = inspect_cli(view, "--no-report")
    assert code == 0, err
    assert f"cannot rebuild {view / SWEEP_LINEAGE_FILE} from pbt_lineage/: Read-only file" \
        " system; the inspection read the jobs' files" in out
    assert "exploited after" in out
