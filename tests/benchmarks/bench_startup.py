"""How long backupctl takes to start, against `python -c pass` measured in the same run.

    python tests/benchmarks/bench_startup.py                  # 15 rounds
    python tests/benchmarks/bench_startup.py --rounds 30 --location file:///path/to/store

Each round runs every command once, in turn (so a burst of load on this shared machine
hits every command alike), as its own process, and the median of the rounds is
reported, with its ratio to `python -c pass` and the difference (what backupctl itself
costs). The commands are the ones a person waits on: `backupctl --help`,
`backupctl backup get` on a file:// location (an empty one unless --location names
another) and a Tab completion of backup names (`backupctl backup describe <TAB>`).
`import typer, pydantic, cryptography` is measured too: the libraries every command
needs, so the floor below which backupctl cannot start. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.25
REPO = Path(__file__).resolve().parents[2]


def commands(location: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    ctl = [sys.executable, "-m", "cli"]
    complete = {
        "_BACKUPCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": f"backupctl backup describe --location {location} ",
        "COMP_CWORD": "5",
    }
    return {
        "python -c pass": ([sys.executable, "-c", "pass"], {}),
        "libraries floor": ([sys.executable, "-c", "import typer, pydantic, cryptography"], {}),
        "backupctl --help": ([*ctl, "--help"], {}),
        "backupctl backup get": ([*ctl, "backup", "get", "--location", location], {}),
        "tab completion": ([sys.executable, "-c", _COMPLETE], complete),
    }


# How the installed `backupctl` script starts (the entry point), so that completion runs
# exactly as the shell would run it; `python -m cli` would be the same code.
_COMPLETE = "from cli.main import main; main()"


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    res = subprocess.run(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    took = time.perf_counter() - started
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {res.stderr.decode()[-400:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--location", help="a file:// location to list (default: an empty one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        location = args.location or Path(tmp).as_uri()
        cmds = commands(location)
        # Bytecode first, as an installed backupctl has it: with PYTHONDONTWRITEBYTECODE
        # set (as on this machine) running the commands would not write it, and each start
        # would compile the modules changed since the last compile again.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "backupd", "cli"], cwd=REPO)
        for argv, env in cmds.values():  # warm the page cache once
            timed(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.rounds):
            for name, (argv, env) in cmds.items():
                samples[name].append(timed(argv, env))
    base = statistics.median(samples["python -c pass"])
    result: dict[str, object] = {"rounds": args.rounds, "target_s": TARGET_S}
    for name, xs in samples.items():
        median = statistics.median(xs)
        result[name] = {
            "median_s": round(median, 3),
            "min_s": round(min(xs), 3),
            "x_python": round(median / base, 1),
            "over_python_s": round(median - base, 3),
        }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
