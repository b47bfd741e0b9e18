"""The sweep's messages (learning.sweep_messages, learning.launch.cluster_utils_patches): a
real cluster_utils server under the launcher's patches takes only its jobs' signed JSON
messages; a pickle sent to its port runs nothing."""

from __future__ import annotations

import os
import pickle
import socket
import time
from pathlib import Path

import pytest

from learning.launch.cluster_utils_patches import PatchPlan, patched_cluster_utils
from learning.sweep_messages import (
    SECRET_FILE_VARIABLE,
    MessageError,
    create_secret,
    encode_message,
    read_message,
    read_secret,
    sign_job_messages,
)

SECRET = bytes(range(32))


class Payload:
    """Unpickling this runs ``touch <path>``: what an attacker would send."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_signed_messages_round_trip_and_anything_else_is_refused():
    data = encode_message(SECRET, 2, (7, {"mean_eval_reward": 0.5}))
    assert read_message(SECRET, data) == (2, (7, {"mean_eval_reward": 0.5}))
    with pytest.raises(MessageError, match="signature"):
        read_message(bytes(32), data)  # another sweep's secret
    tampered = data[:-3] + b"9}]"
    with pytest.raises(MessageError):
        read_message(SECRET, tampered)
    with pytest.raises(MessageError, match="not a signed message"):
        read_message(SECRET, pickle.dumps((2, (7, {}))))
    with pytest.raises(MessageError, match="kinds"):
        read_message(SECRET, encode_message(SECRET, 99, (7,)))


def test_secret_files_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = create_secret("s1")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(read_secret(path)) == 32
    path.chmod(0o644)  # readable by the group: refused
    with pytest.raises(MessageError, match="not a private file"):
        read_secret(path)
    link = tmp_path / "link.key"
    link.symlink_to(path)
    with pytest.raises(MessageError, match="cannot read"):
        read_secret(link)
    os.chown(path, 12345, 12345)  # another user's file
    path.chmod(0o600)
    with pytest.raises(MessageError, match="not a private file"):
        read_secret(path)
    path.parent.chmod(0o777)  # a folder others can write
    with pytest.raises(MessageError, match="not a private folder"):
        create_secret("s2")


def _cluster(tmp_path: Path):
    """A real cluster_utils local cluster with one job, as its hp_optimization makes them."""
    from cluster_utils.server.dummy_cluster_system import DummyClusterSubmission
    from cluster_utils.server.job import Job

    paths = {"main_path": str(tmp_path), "script_to_run": "run_learning.py",
             "result_dir": str(tmp_path), "jobs_dir": str(tmp_path / "jobs"),
             "current_result_dir": str(tmp_path / "working_directories")}
    cluster = DummyClusterSubmission(requirements={"request_cpus": 1}, paths=paths)
    job = Job(id=0, settings={}, other_params={}, paths=paths, iteration=1,
              connection_info={"ip": "127.0.0.1", "port": 1}, opt_procedure_name="t",
              singularity_settings=None)
    cluster.add_jobs(job)
    return cluster, job


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_server_takes_signed_messages_and_drops_a_pickle(tmp_path):
    from cluster_utils.server.communication_server import CommunicationServer
    from cluster_utils.server.job import JobStatus

    cluster, job = _cluster(tmp_path)
    planted = tmp_path / "pwned"
    plan = PatchPlan(params={}, local=True, secret=SECRET)
    with patched_cluster_utils(plan) as dropped:
        server = CommunicationServer(cluster)
        try:
            assert server.ip_adress == "127.0.0.1"  # local mode: loopback only
            address = (server.ip_adress, server.port)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(pickle.dumps((0, (0, "attacker-host"))), address)
                sock.sendto(pickle.dumps(Payload(planted)), address)
                sock.sendto(encode_message(bytes(32), 0, (0, "wrong-key")), address)
                assert _wait_for(lambda: dropped["count"] == 3)
                assert job.status == JobStatus.INITIAL_STATUS
                sock.sendto(encode_message(SECRET, 0, (0, "node7")), address)
                assert _wait_for(lambda: job.status == JobStatus.RUNNING)
            assert job.hostname == "node7"
        finally:
            server.event_loop.call_soon_threadsafe(server.event_loop.stop)
    assert not planted.exists()
    assert dropped["count"] == 3


def test_a_job_signs_its_messages_with_the_secret_it_is_given(tmp_path, monkeypatch):
    """The job side: cluster_utils' client sends through the signing sender."""
    from cluster_utils.client import server_communication, submission_state

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = create_secret("job")
    monkeypatch.setenv(SECRET_FILE_VARIABLE, str(path))
    monkeypatch.setattr(server_communication, "send_message",
                        server_communication.send_message)  # restored after the test
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)
        monkeypatch.setattr(submission_state, "communication_server_ip", "127.0.0.1")
        monkeypatch.setattr(submission_state, "communication_server_port",
                            receiver.getsockname()[1])
        monkeypatch.setattr(submission_state, "job_id", 4)
        assert sign_job_messages()
        server_communication.send_results_to_server({"mean_eval_reward": 1.5})
        data, _ = receiver.recvfrom(65536)
    assert read_message(read_secret(path), data) == (2, (4, {"mean_eval_reward": 1.5}))
