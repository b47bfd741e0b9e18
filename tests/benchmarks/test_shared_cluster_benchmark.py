"""benchmarks/shared_cluster.py: its quick cases (the launcher's pre-flight, ``--check``,
in-process) run against the real project and are all reported defended (seconds, no
sweep)."""

from __future__ import annotations

import os

from benchmarks.shared_cluster import main

QUICK = (5, 8, 9, 10, 11)


def test_the_check_cases_are_defended(tmp_path, capsys):
    before = os.getcwd()
    code = main(["--cases", ",".join(map(str, QUICK)), "--work", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert os.getcwd() == before  # main() left the current directory as it was
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [row.split(" | ")[0] for row in rows[1:]] == [f"| {n}" for n in QUICK]
    for row in rows[1:]:
        assert "| defended: refused before any job: " in row or "| skipped: " in row, row
    assert "NOT defended" not in out
    assert "cases defended" in out and "load average before" in out
    [kept] = tmp_path.iterdir()  # --work keeps the cases' files
    assert (kept / "case8" / "sweep.json").is_file()
    assert not (kept / "case8" / "escape").exists()
