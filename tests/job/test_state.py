"""Restart state: atomic replacement, survival of an interrupted write, clear errors."""

import json
import os

import pytest

from learning.hpo import state as st


def make_state():
    return st.new_state("digest", learning_runs_per_job=2, training_iterations=1,
                        max_attempts=3, seeds=[10, 11])


def test_round_trip(tmp_path):
    state = make_state()
    state["runs"][0]["status"] = "finished"
    st.save_state(tmp_path, state)
    assert st.load_state(tmp_path) == state
    assert [p.name for p in tmp_path.iterdir()] == [st.STATE_FILE]  # no temp files left


def test_missing_state_is_none(tmp_path):
    assert st.load_state(tmp_path) is None


def test_write_cut_off_before_replace_keeps_old_state(tmp_path, monkeypatch):
    old = make_state()
    st.save_state(tmp_path, old)
    new = make_state()
    new["status"] = "finished"

    def dies_mid_write(*args, **kwargs):  # the process dies between write and rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        st.save_state(tmp_path, new)
    monkeypatch.undo()
    assert st.load_state(tmp_path) == old


def test_stale_temp_file_from_killed_writer_is_ignored(tmp_path):
    st.save_state(tmp_path, make_state())
    text = json.dumps(make_state())
    (tmp_path / f".{st.STATE_FILE}.abc.tmp").write_text(text[: len(text) // 2])
    assert st.load_state(tmp_path)["params_digest"] == "digest"
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_file_is_reported_clearly(tmp_path):
    text = json.dumps(make_state())
    (tmp_path / st.STATE_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(st.StateError, match=r"job_state.json is not valid JSON .*cut off or"
                       r" changed outside the job. Move it away"):
        st.load_state(tmp_path)


def test_wrong_format_and_missing_keys(tmp_path):
    (tmp_path / st.STATE_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(st.StateError, match="lacks keys"):
        st.load_state(tmp_path)
    state = make_state()
    state["format"] = "lttfs-job-state/0"
    (tmp_path / st.STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(st.StateError, match="has format 'lttfs-job-state/0'"):
        st.load_state(tmp_path)
