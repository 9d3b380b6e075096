"""A/B the activities throughput of a base commit and the working tree, by the tap's CPU time.

    .venv/bin/python benchmarks/ab_cpu.py f67b041              # 1,000,000 activities, 3 rounds
    .venv/bin/python benchmarks/ab_cpu.py f67b041 --rows 300000 --rounds 5

On a shared machine the wall-time figures of run.py move by far more than a parser change's
effect. Here both trees run against one sandbox (one export file), alternating, and each run is
measured by the tap process's user + system CPU seconds (measure.py), which other processes
disturb much less. The base commit is extracted with `git archive` into a temporary folder and
put first on the tap's PYTHONPATH. Prints records per CPU second, best of the rounds, and the
ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import tap_throughput as tt


def extract(rev: str, into: Path) -> Path:
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev], cwd=tt.REPO, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "base")  # our own repository's archive
    return into / "base"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision to compare the working tree with")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    working_tree = tt.REPO
    with tempfile.TemporaryDirectory(prefix="tap-marketo-ab-") as tmp:
        trees = {args.base: extract(args.base, Path(tmp)), "working tree": working_tree}
        best: dict[str, float] = {}
        with tt.Bench(activities=args.rows, leads=args.rows // 5) as bench:
            for round_number in range(args.rounds):
                names = list(trees) if round_number % 2 == 0 else list(reversed(trees))
                for index, name in enumerate(names):
                    tt.REPO = trees[name]  # measured() runs the tap from this tree
                    label = f"-ab{round_number}-{index}"
                    run = bench.run_tap("activities", label)
                    measured = bench.workdir / f"tap-activities{label}.json"
                    figures = json.loads(measured.read_text())
                    cpu = figures["user_seconds"] + figures["system_seconds"]
                    best[name] = min(best.get(name, cpu), cpu)
                    print(
                        f"round {round_number} {name}: {run.records:,} records, "
                        f"{cpu:.2f} CPU s ({run.records / cpu:,.0f}/CPU s), wall {run.wall:.1f} s",
                        flush=True,
                    )
            tt.REPO = working_tree
    for name, cpu in best.items():
        print(f"best {name}: {args.rows / cpu:,.0f} records per CPU second ({cpu:.2f} s)")
    print(f"working tree / {args.base}: {best[args.base] / best['working tree']:.3f}")


if __name__ == "__main__":
    main()
