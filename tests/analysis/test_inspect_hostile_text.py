"""Report text is text: parameter names and values, and metric names, from a results
folder that someone else in the unix group may have written, are shown as written in the
figures (never parsed as mathtext), the printed table (control characters spelled out) and
report.html (HTML-escaped); the inspection writes no CSV a spreadsheet could run a formula
from."""

from __future__ import annotations

import html
import json
import pickle
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.text import Text
from tiny_sweep import METRIC, NUM_JOBS, PARAMS

from learning.analysis import plots
from learning.analysis.display import format_value, printable, short_names

MATHTEXT = "$\\frac{$"  # matplotlib's mathtext parser raises on it
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
FORMULA = "=cmd|' /C calc'!A0"
HOSTILE_VALUES = (MATHTEXT, SCRIPT, ATTRIBUTE, FORMULA)
#: a parameter name (its last dotted part is what the table and the figures show)
HOSTILE_NAME = "config.rl_config.lr $x_{$ <script>alert(3)</script>"
HOSTILE_LABEL = short_names([HOSTILE_NAME])[HOSTILE_NAME]
HOSTILE_METRIC = "score $\\sqrt{$ <b>bold</b>"
#: the only elements report.html is made of; anything else came from the data
REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "pre",
               "code", "img", "ul", "li", "table", "thead", "tbody", "tr", "th", "td"}

FIGURES: list = []


def record_figure(figure) -> None:
    """matplotlib's figure hook (rcParams["figure.hooks"]): keep every figure made."""
    FIGURES.append(figure)


@pytest.fixture
def recorded_figures(monkeypatch) -> list:
    """The figures pyplot makes during the test (drawn and closed by plots.to_png)."""
    FIGURES.clear()
    monkeypatch.setitem(matplotlib.rcParams, "figure.hooks", [f"{__name__}:record_figure"])
    yield FIGURES
    FIGURES.clear()


def texts_holding(figures: list, literal: str) -> list[Text]:
    return [text for figure in figures for text in figure.findobj(Text)
            if literal in text.get_text()]


def assert_drawn_as_written(figures: list, literals) -> None:
    """Each string is the text of some figure's Text, and every such Text is drawn as
    written: no mathtext, no TeX."""
    for literal in literals:
        texts = texts_holding(figures, literal)
        assert texts, f"{literal!r} is in no figure"
        for text in texts:
            assert not text.get_parse_math() and not text.get_usetex(), text


class ReportPage(HTMLParser):
    """The elements of report.html and its text as a browser shows it."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_shown_as_text(page: str, literals) -> None:
    parsed = ReportPage(page)
    assert {tag for tag, _ in parsed.tags} <= REPORT_TAGS
    for tag, attrs in parsed.tags:
        if tag == "img":
            assert set(attrs) == {"alt", "src"} and attrs["src"].startswith("data:image/")
    shown = "\n".join(parsed.text)
    for literal in literals:
        assert literal in shown
        assert html.escape(literal, quote=False) in page  # written escaped
    assert "<script" not in page and "<img src=x" not in page


def csv_files(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*.csv"))}


def test_printable_spells_out_control_characters():
    assert printable("a\x1b[2Jb\nc\td\u202ee") == "a\\x1b[2Jb\\nc\\td\\u202ee"
    assert printable(MATHTEXT + SCRIPT + " é") == MATHTEXT + SCRIPT + " é"
    assert format_value("x\x1b]0;title\x07") == "x\\x1b]0;title\\x07"
    assert short_names(["config.a\nb.c\rd"]) == {"config.a\nb.c\rd": "c\\rd"}


def test_every_figure_draws_hostile_text_as_written(recorded_figures):
    """Each figure of the report, given hostile names and values, is drawn (no mathtext
    error) with the strings as written."""
    jobs = pd.DataFrame({
        "job_id": [0, 1, 2, 3], "rank": [2, 1, 4, 3], "_iteration": [0, 0, 1, 1],
        HOSTILE_NAME: list(HOSTILE_VALUES), "config.lr": [1e-4, 1e-3, 1e-2, 1e-5],
        HOSTILE_METRIC: [1.5, 2.5, 0.5, 0.7], "std": [0.1, 0.2, 0.1, 0.3],
    })
    params = [HOSTILE_NAME, "config.lr"]
    labels = [HOSTILE_LABEL, "lr"]
    importance = pd.DataFrame({"label": [HOSTILE_LABEL, "lr"], "importance": [0.8, 0.3]})
    curve = pd.DataFrame({"timesteps": [32, 64, 96], "reward": [0.1, 0.3, 0.2]})
    confirmed = pd.DataFrame({"job_id": [1, 0], "original_mean": [2.5, 1.5],
                              "original_std": [0.2, 0.1], "confirmed_mean": [2.0, 1.8],
                              "confirmed_std": [0.3, 0.2]})
    points = pd.DataFrame({"job_id": [0, 0, 1, 1], "iteration": [1, 2, 1, 2],
                           "value": [1.0, 1.5, 0.5, 0.4], "final": [False, True, False, False],
                           "status": ["finished", "finished", "stopped_early",
                                      "stopped_early"]})
    pngs = [
        plots.metric_over_jobs(jobs, HOSTILE_METRIC, "std", minimize=False),
        plots.metric_vs_params(jobs, params, labels, HOSTILE_METRIC, "std"),
        plots.importance(importance),
        plots.learning_curves([(MATHTEXT + SCRIPT, {0: curve, 1: curve})]),
        plots.confirmation(confirmed, HOSTILE_METRIC),
        plots.intermediate_metric(points, HOSTILE_METRIC),
    ]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert len(recorded_figures) == len(pngs)
    assert_drawn_as_written(recorded_figures,
                            [*HOSTILE_VALUES, HOSTILE_LABEL, HOSTILE_METRIC])
    # numbers keep matplotlib's own mathtext (the log axis' 10^n tick labels)
    ticks = [t for t in recorded_figures[1].findobj(Text) if "mathdefault" in t.get_text()]
    assert ticks and all(t.get_parse_math() for t in ticks)


def synthetic_results(root: Path) -> Path:
    """A results folder as cluster_utils writes it (metadata.json, all_data.csv,
    reduced_data.csv naming the parameters and the metric), with hostile names and
    values planted."""
    root.mkdir(parents=True)
    (root / "metadata.json").write_text(json.dumps({"run_type": "HP_OPTIMIZATION"}))
    pd.DataFrame({
        "id": range(4), "config.rl_config.gamma": list(HOSTILE_VALUES),
        HOSTILE_NAME: [1e-4, 1e-3, 1e-2, 1e-5], HOSTILE_METRIC: [1.5, 2.5, 0.5, 0.7],
    }).to_csv(root / "all_data.csv")
    pd.DataFrame({"config.rl_config.gamma": [MATHTEXT], HOSTILE_NAME: [1e-4],
                  HOSTILE_METRIC: [1.5], "job_restarts": [1],
                  f"{HOSTILE_METRIC}__std": [0.0]}).to_csv(root / "reduced_data.csv")
    return root


def test_hostile_names_and_values_in_a_results_folder(tmp_path, inspect_cli,
                                                      recorded_figures):
    root = synthetic_results(tmp_path / "results" / "x")
    before = csv_files(root)
    code, out, err = inspect_cli(root)
    assert code == 0, err
    assert f"metric: {HOSTILE_METRIC} (maximized)" in out
    table = out.split("\n\n")[1]
    for literal in (*HOSTILE_VALUES, HOSTILE_LABEL, HOSTILE_METRIC):
        assert literal in table
    assert_shown_as_text((root / "report.html").read_text(encoding="utf-8"),
                         [*HOSTILE_VALUES, HOSTILE_LABEL, HOSTILE_METRIC, HOSTILE_NAME])
    assert_drawn_as_written(recorded_figures,
                            [*HOSTILE_VALUES, HOSTILE_LABEL, HOSTILE_METRIC])
    assert csv_files(root) == before  # the inspection writes no CSV


class StandInOptimizer:
    """What the inspection reads of cluster_utils' pickled optimizer (status.pickle)."""

    def __init__(self, params: list[str]):
        self.metric_to_optimize, self.minimize = METRIC, False
        self.params, self.number_of_samples = params, NUM_JOBS


def plant_hostile_values(root: Path) -> dict[int, str]:
    """Change a real sweep's results as a colleague in the same unix group could: the
    Discrete parameter (gamma) gets a hostile value per job in all_data.csv and in the kept
    jobs' settings.json and param_choice.csv; the learning rate a hostile name (column and
    status.pickle). Returns the planted value of each job."""
    lr, gamma = PARAMS
    all_data = pd.read_csv(root / "all_data.csv", index_col=0)
    planted = dict(zip(all_data["id"], HOSTILE_VALUES, strict=True))
    all_data[gamma] = all_data["id"].map(planted)
    all_data.rename(columns={lr: HOSTILE_NAME}).to_csv(root / "all_data.csv")
    for job_dir in (root / "best_jobs").iterdir():
        job_id = int(job_dir.name.rsplit("_", 1)[1])
        settings = json.loads((job_dir / "settings.json").read_text())
        settings["config"]["rl_config"]["gamma"] = planted[job_id]
        (job_dir / "settings.json").write_text(json.dumps(settings))
        choice = pd.read_csv(job_dir / "param_choice.csv")
        choice[gamma] = planted[job_id]
        choice.rename(columns={lr: HOSTILE_NAME}).to_csv(job_dir / "param_choice.csv",
                                                         index=False)
    optimizer = StandInOptimizer([HOSTILE_NAME, gamma])
    (root / "status.pickle").write_bytes(pickle.dumps(optimizer))
    return planted


@pytest.mark.slow
def test_hostile_values_in_a_real_sweep(sweep_copy, inspect_cli, recorded_figures):
    plant_hostile_values(sweep_copy)
    before = csv_files(sweep_copy)
    code, out, err = inspect_cli(sweep_copy)
    assert code == 0, err
    table = out.split("\n\n")[1]
    header = table.splitlines()[0]
    assert HOSTILE_LABEL in header and "gamma" in header
    for value in HOSTILE_VALUES:
        assert value in table
    page = (sweep_copy / "report.html").read_text(encoding="utf-8")
    assert_shown_as_text(page, [*HOSTILE_VALUES, HOSTILE_LABEL, HOSTILE_NAME])
    assert_drawn_as_written(recorded_figures, [*HOSTILE_VALUES, HOSTILE_LABEL])
    assert csv_files(sweep_copy) == before  # the inspection writes no CSV
