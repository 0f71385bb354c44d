"""Peak memory and time of reading hostile archives, as a user's process would.

    python tests/benchmarks/bench_hostile.py                  # every case below
    python tests/benchmarks/bench_hostile.py --cases gib-zero-member

Each case of tests/fixtures/hostile.py is stored as backup `evil` in a local location,
then `backupctl backup verify` and `backupctl backup show` run as processes of their
own (the reader restore uses): their peak RSS is VmHWM, read by an atexit hook, so it
covers exactly one run. Every run must be refused; a run that is not fails the
benchmark. Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from backupd.storage.location import open_location  # noqa: E402
from tests.fixtures import hostile  # noqa: E402

LIMIT_MB = 300
DEFAULT_CASES = ["gib-zero-member", "200k-tiny-members", "duplicate-and-missing"]


def bench(name: str, work: Path) -> dict[str, object]:
    outside = work / "outside"
    case = hostile.CASES[name]("bench", outside)
    store = work / "store"
    started = time.monotonic()
    hostile.store(open_location(store.as_uri()), "evil", case, work)
    built_s = time.monotonic() - started
    archive = next((store / "backups" / "evil").glob("resources.*"))
    result: dict[str, object] = {
        "case": name,
        "archive_bytes": archive.stat().st_size,
        "items": len(case.index),
        "build_s": round(built_s, 1),
    }
    commands = {
        "verify": ("backup", "verify", "evil", "--location", store.as_uri()),
        "show": ("backup", "show", "evil", case.show, "-n", "bench", "--location", store.as_uri()),
    }
    for what, args in commands.items():
        res = hostile.run_measured(*args, cwd=work)
        refused = res.returncode != 0 and case.refusal in res.stderr
        if not refused:
            raise SystemExit(f"{name}: {what} was not refused: {res.returncode} {res.stderr}")
        result[f"{what}_peak_mb"] = round(res.peak_mb, 1)
        result[f"{what}_s"] = round(res.seconds, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, choices=sorted(hostile.CASES))
    args = parser.parse_args()
    worst = 0.0
    for name in args.cases:
        with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
            result = bench(name, Path(tmp))
        print(json.dumps(result), flush=True)
        worst = max(worst, float(result["verify_peak_mb"]), float(result["show_peak_mb"]))  # type: ignore[arg-type]
    if worst >= LIMIT_MB:
        raise SystemExit(f"peak RSS {worst} MB is over the {LIMIT_MB} MB limit")


if __name__ == "__main__":
    main()
