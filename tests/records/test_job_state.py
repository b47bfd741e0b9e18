"""Restart state: typed schema, atomic replacement, survival of an interrupted write, and
a clear error naming the file and the field for every unusable state."""

import dataclasses
import json
import os

import pytest

from learning.records import job_state as st
from learning.records.job_state import Attempt, JobState


def make_state() -> JobState:
    state = JobState.new("digest", training_iterations=1, max_attempts=3, seeds=[10, 11])
    state.runs[0].attempts.append(Attempt(dir="run_0.0-0", iteration=0, attempt=0, seed=10,
                                          num_timesteps=64, load_path=""))
    return state


def test_round_trip(tmp_path):
    state = make_state()
    state.runs[0].status = "finished"
    st.save_state(tmp_path, state)
    assert st.load_state(tmp_path) == state
    assert [p.name for p in tmp_path.iterdir()] == [st.STATE_FILE]  # no temp files left
    data = json.loads((tmp_path / st.STATE_FILE).read_text())
    assert data["format"] == st.FORMAT and data["runs"][0]["attempts"][0]["dir"] == "run_0.0-0"


def test_missing_state_is_none(tmp_path):
    assert st.load_state(tmp_path) is None


def test_write_cut_off_before_replace_keeps_old_state(tmp_path, monkeypatch):
    old = make_state()
    st.save_state(tmp_path, old)
    new = make_state()
    new.status = "finished"

    def dies_mid_write(*args, **kwargs):  # the process dies between write and rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        st.save_state(tmp_path, new)
    monkeypatch.undo()
    assert st.load_state(tmp_path) == old


def test_stale_temp_file_from_killed_writer_is_ignored(tmp_path):
    st.save_state(tmp_path, make_state())
    text = json.dumps(dataclasses.asdict(make_state()))
    (tmp_path / f".{st.STATE_FILE}.abc.tmp").write_text(text[: len(text) // 2])
    assert st.load_state(tmp_path).params_digest == "digest"
    assert list(tmp_path.glob(".*.tmp"))  # reading removes nothing: it may be a live write
    st.remove_stale_temporary_files(tmp_path)  # the job does, holding the lock
    assert not list(tmp_path.glob(".*.tmp"))


def test_truncated_file_is_reported_clearly(tmp_path):
    text = json.dumps(dataclasses.asdict(make_state()))
    (tmp_path / st.STATE_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(st.StateError, match=r"job_state.json is not valid JSON .*cut off or"
                       r" changed outside the job. Move it away"):
        st.load_state(tmp_path)


def _broken(change):
    data = dataclasses.asdict(make_state())
    change(data)
    return data


@pytest.mark.parametrize("data, pattern", [
    ({"format": "lttfs-job-state/1"}, r"has format 'lttfs-job-state/1'; this version reads"),
    ([1, 2], r"\(top level\): is list, expected an object"),
    (_broken(lambda d: d.pop("runs")), r"runs: missing"),
    (_broken(lambda d: d.update(runs=[])), r"runs: is empty"),
    (_broken(lambda d: d.update(runs="x")), r"runs: is str 'x', expected a list|runs: is str"),
    (_broken(lambda d: d["runs"][1].update(seed="7")), r"runs:1.seed: is str '7', expected int"),
    (_broken(lambda d: d["runs"][0]["attempts"][0].update(outcome="lost")),
     r"runs:0.attempts:0.outcome: is 'lost'; valid: ok, interrupted"),
    (_broken(lambda d: d.update(in_flight=[{"run": 5, "dir": "run_5.0-0", "host": "h"}])),
     r"in_flight:0: names run 5, attempt 'run_5.0-0', which is not that run's last attempt"),
    (_broken(lambda d: d.update(surprise=1)), r"\(top level\): unknown field 'surprise'"),
])
def test_unusable_state_names_the_file_and_the_field(tmp_path, data, pattern):
    (tmp_path / st.STATE_FILE).write_text(json.dumps(data))
    with pytest.raises(st.StateError, match=pattern) as info:
        st.load_state(tmp_path)
    assert str(tmp_path / st.STATE_FILE) in str(info.value)


def test_a_directory_in_place_of_the_state_is_reported(tmp_path):
    (tmp_path / st.STATE_FILE).mkdir()
    with pytest.raises(st.StateError, match=r"job_state.json cannot be read"):
        st.load_state(tmp_path)
