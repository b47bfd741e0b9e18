"""The CPU lock folder of local_cpu_pinning is the user's own, or it is not used.

Real folders and files under a temporary directory (TMPDIR, read by
``tempfile.gettempdir()``, here its cached value ``tempfile.tempdir``); "another user"
is uid 12345, set with chown (root only)."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from learning.job.learner import CpuReservation, cpu_lock_folder

OTHER_UID = 12345
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


@pytest.fixture
def lock_folder(tmp_path, monkeypatch):
    """The CPU lock folder under tmp_path (not made yet)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = cpu_lock_folder()
    assert folder == tmp_path / f"lttfs-cpu-locks-{os.getuid()}"
    return folder


def reserve(count=1):
    reservation = CpuReservation(count)
    cpus = reservation.cpus
    reservation.release()
    return cpus


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_fresh_folder_is_made_private(lock_folder, capsys):
    assert reserve() == frozenset({0})
    assert mode(lock_folder) == 0o700
    assert mode(lock_folder / "cpu0.lock") == 0o600
    assert capsys.readouterr().err == ""


def test_a_folder_of_an_earlier_version_readable_by_others_is_made_private(lock_folder):
    lock_folder.mkdir()
    lock_folder.chmod(0o755)  # mkdir under umask 022, as the earlier version made it
    assert reserve() == frozenset({0})
    assert mode(lock_folder) == 0o700


def make_unsafe_folder(folder, kind):
    if kind == "other_owner":
        folder.mkdir(mode=0o700)
        os.chown(folder, OTHER_UID, OTHER_UID)
    elif kind == "mode_0777":
        folder.mkdir()
        folder.chmod(0o777)
    elif kind == "group_writable":
        folder.mkdir()
        folder.chmod(0o770)
    elif kind == "symlink":
        elsewhere = folder.parent / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        folder.symlink_to(elsewhere)
        return elsewhere
    elif kind == "dangling_symlink":
        folder.symlink_to(folder.parent / "nowhere")
        return folder.parent / "nowhere"
    elif kind == "file":
        folder.write_text("")
    return folder


@pytest.mark.parametrize("kind, why", [
    pytest.param("other_owner", f"belongs to uid {OTHER_UID}, not to this user", marks=as_root),
    ("mode_0777", "has mode 0777: other users may write to it"),
    ("group_writable", "has mode 0770: other users may write to it"),
    ("symlink", "is a symbolic link"),
    ("dangling_symlink", "is a symbolic link"),
    ("file", "cannot be opened (not a directory"),
])
def test_a_folder_that_is_not_the_users_own_is_refused_with_one_warning(
        lock_folder, capsys, kind, why):
    target = make_unsafe_folder(lock_folder, kind)
    before = sorted(os.listdir(target)) if target.is_dir() else None
    assert reserve() is None  # the job keeps its inherited CPU affinity
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"warning: not pinning learners to CPUs: the CPU lock folder"
                          f" {lock_folder} {why}"), err
    assert err.rstrip().endswith("the job keeps its inherited CPU affinity")
    if before is not None:
        assert sorted(os.listdir(target)) == before  # no lock file made there
    if kind in ("mode_0777", "group_writable"):
        assert mode(target) in (0o777, 0o770)  # left as it was: not made private


def test_a_symlinked_lock_file_is_refused_and_its_target_not_truncated(
        lock_folder, tmp_path, capsys):
    important = tmp_path / "important.txt"
    important.write_text("keep me")
    lock_folder.mkdir(mode=0o700)
    (lock_folder / "cpu0.lock").symlink_to(important)
    cpus = reserve()
    assert important.read_text() == "keep me"
    assert cpus is None or 0 not in cpus  # CPU 0's lock is not taken through the link
    err = capsys.readouterr().err
    assert f"warning: not using CPU 0 for pinning: {lock_folder / 'cpu0.lock'} is a symbolic" \
           " link" in err


@pytest.mark.parametrize("kind", [pytest.param("other_owner", marks=as_root), "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_of_the_user_is_refused(
        lock_folder, capsys, kind):
    lock_folder.mkdir(mode=0o700)
    lock = lock_folder / "cpu0.lock"
    if kind == "fifo":
        os.mkfifo(lock, 0o600)
        why = "is not a regular file"
    else:
        lock.write_text("")
        os.chown(lock, OTHER_UID, OTHER_UID)
        why = f"belongs to uid {OTHER_UID}"
    cpus = reserve()
    assert cpus is None or 0 not in cpus
    assert f"warning: not using CPU 0 for pinning: {lock} {why}" in capsys.readouterr().err


def test_an_existing_lock_file_is_not_truncated(lock_folder):
    lock_folder.mkdir(mode=0o700)
    (lock_folder / "cpu0.lock").write_text("left by an earlier job")
    assert reserve() == frozenset({0})
    assert (lock_folder / "cpu0.lock").read_text() == "left by an earlier job"
