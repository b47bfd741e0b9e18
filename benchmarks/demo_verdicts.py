"""How long the demo takes and how often its winner beats the shipped defaults.

Runs what ``make demo`` runs, --repeats times, each into its own results folder
(benchmarks/output/demo_verdicts/<i>): the sweep ``python -m learning.sweep
hp_optim/ppo_local.json --fresh`` (CEM samples differently every time: cluster_utils
seeds nothing, so each repeat is a different demo), then ``python -m
learning.analysis.inspection RESULTS --confirm 1 --seeds 3 --baseline`` (the winner and the
shipped defaults on the same 3 fresh seeds). Prints per repeat the wall times of both
steps, the winner's settings, its confirmed lead over the defaults in standard errors and
the verdict; then how often the winner beat the defaults by more than the noise (a lead of
at least 2 standard errors, the inspection's own rule). The load average is printed:
the times mean something only on an otherwise idle machine.

    python benchmarks/demo_verdicts.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "benchmarks" / "output" / "demo_verdicts"
LEAD = re.compile(r"Against the shipped defaults .*?: (?P<lead>-?[\d.e+-]+)"
                  r"(?:, (?P<se>-?[\d.]+) standard errors)?; (?P<judged>[^.]+)\.")
WINNER = re.compile(r"^\s+1\s+\d+\s+(?P<row>.*)$", re.MULTILINE)


def run(command: list[str], log: Path) -> float:
    """Run ``command`` in the repository (output to ``log``); its wall seconds."""
    started = time.time()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(command)} failed (exit {result.returncode}); log: {log}")
    return time.time() - started


def one_demo(index: int, seeds: int) -> dict:
    folder = OUTPUT / str(index)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    python = sys.executable
    sweep_s = run([python, "-m", "learning.sweep", "hp_optim/ppo_local.json", "--fresh",
                   f'results_dir="{folder}"'], folder / "sweep.log")
    confirm_s = run([python, "-m", "learning.analysis.inspection", str(folder / "ppo_local"),
                     "--confirm", "1", "--seeds", str(seeds), "--baseline"],
                    folder / "inspection.log")
    text = (folder / "inspection.log").read_text()
    found = LEAD.search(text)
    winner = WINNER.search(text)
    return {
        "sweep_s": round(sweep_s, 1),
        "confirm_s": round(confirm_s, 1),
        # the sweep table's first row without its last column, the job's folder
        "winner_row": " ".join(winner["row"].split()[:-1]) if winner else None,
        "lead": float(found["lead"]) if found else None,
        "standard_errors": float(found["se"]) if found and found["se"] else None,
        "verdict": found["judged"] if found else "no verdict (see the log)",
        "beats_defaults": bool(found) and found["judged"].startswith("it beats them"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3, help="confirmation seeds (make demo: 3)")
    args = parser.parse_args(argv)
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)
    print(f"load average before: {[round(x, 2) for x in os.getloadavg()]}", flush=True)
    results = []
    for index in range(args.repeats):
        result = one_demo(index, args.seeds)
        results.append(result)
        print(f"demo {index}: sweep {result['sweep_s']:.0f} s + confirmation"
              f" {result['confirm_s']:.0f} s = {result['sweep_s'] + result['confirm_s']:.0f} s;"
              f" winner {result['winner_row']}; lead over the defaults {result['lead']}"
              f" ({result['standard_errors']} standard errors): {result['verdict']}", flush=True)
    held = sum(r["beats_defaults"] for r in results)
    total = [r["sweep_s"] + r["confirm_s"] for r in results]
    print(f"the winner beat the shipped defaults beyond the noise in {held} of {len(results)}"
          f" demos; demo time {min(total):.0f}-{max(total):.0f} s;"
          f" load average after: {[round(x, 2) for x in os.getloadavg()]}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "summary.json").write_text(json.dumps(
        {"repeats": results, "held": held, "load_average_after": os.getloadavg()},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
