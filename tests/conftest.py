"""Fixtures shared by the wings' tests: small real file systems that fill up or refuse
writes (tmpfs mounts; they need root, and are skipped with the reason without it), and a
real tiny sweep made once per session (tiny_sweep.py) with private copies of it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tiny_sweep import TINY_SWEEP, run_cluster_utils, tiny_pbt_grid


def _mount(args: list[str]) -> str | None:
    """Run mount; None if it worked, else why not."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else f"mount {' '.join(args)}: {result.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Callable[..., Path]]:
    """``small_disk(size_kib=2048, read_only=False)``: a new tmpfs of that size mounted
    under tmp_path (a real full disk: writes fail with ENOSPC; read_only: EROFS), unmounted
    after the test, also when it fails."""
    mounted: list[Path] = []

    def mount(size_kib: int = 2048, read_only: bool = False) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        options = f"size={size_kib}k,mode=0777" + (",ro" if read_only else "")
        why_not = _mount(["-t", "tmpfs", "-o", options, "tmpfs", str(point)])
        if why_not:
            pytest.skip(f"needs a small tmpfs: {why_not}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def read_only_view(tmp_path) -> Iterator[Callable[[Path], Path]]:
    """``read_only_view(folder)``: the same folder, bind-mounted read-only elsewhere (root
    ignores file modes, so chmod cannot make a folder read-only in these tests)."""
    mounted: list[Path] = []

    def view(folder: Path) -> Path:
        point = tmp_path / f"ro{len(mounted)}" / folder.name
        point.mkdir(parents=True)
        why_not = _mount(["--bind", str(folder), str(point)])
        if why_not:
            pytest.skip(f"needs a read-only bind mount: {why_not}")
        mounted.append(point)
        why_not = _mount(["-o", "remount,bind,ro", str(point)])
        if why_not:
            pytest.skip(f"needs a read-only bind mount: {why_not}")
        return point

    yield view
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def fill_disk() -> Callable[..., None]:
    """``fill_disk(disk, leave_kib=0)``: fill a small disk with a file until only about
    ``leave_kib`` KiB are free."""

    def fill(disk: Path, leave_kib: int = 0) -> None:
        stat = os.statvfs(disk)
        free = stat.f_bavail * stat.f_frsize - leave_kib * 1024
        if free > 0:
            with open(disk / f"filler{len(list(disk.glob('filler*')))}", "wb") as f:
                try:
                    f.write(b"\0" * free)
                except OSError:  # the last page: the disk is full, as wanted
                    pass

    return fill


@pytest.fixture(scope="session")
def sweep_root(tmp_path_factory) -> Path:
    """results/tiny of the real sweep; tests must not change it (use sweep_copy)."""
    folder = tmp_path_factory.mktemp("sweep")
    config = dict(TINY_SWEEP, results_dir=str(folder / "results"))
    run_cluster_utils("cluster_utils.hp_optimization", config, folder)
    root = folder / "results" / "tiny"
    assert (root / "all_data.csv").is_file()
    return root


@pytest.fixture(scope="session")
def pbt_root(tmp_path_factory) -> Path:
    """results/tiny_pbt of a real tiny population-based-training grid (tiny_sweep.PBT_GRID,
    about 20 s); tests must not change it (copy it)."""
    root = tiny_pbt_grid(tmp_path_factory.mktemp("pbt"))
    assert (root / "pbt_lineage.json").is_file()
    return root


@pytest.fixture
def sweep_copy(sweep_root, tmp_path) -> Path:
    """A private copy of the sweep's results folder (same name) to change or add to."""
    target = tmp_path / "results" / sweep_root.name
    shutil.copytree(sweep_root, target)
    return target


@pytest.fixture
def inspect_cli(capsys):
    """Call learning.analysis.inspection.main in-process: (exit code, stdout, stderr)."""
    from learning.analysis.inspection import main

    def run(*argv) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
