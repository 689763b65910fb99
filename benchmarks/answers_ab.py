"""Answers/s of two source trees, interleaved in one run, against the same echo bot.

This machine's speed drifts by up to 2x between runs, so a change to the answer path is
judged only by figures taken in one run with the rounds alternated. Each round measures, in
this order: the echo bot (one call, then two calls per update, `benchmarks/echo_bot.py` of
this checkout), then tree A and then tree B (B first with `--before-first`), each with
measurement 3 of `benchmarks/delivery.py` (M customers tap a reason button, then type a
text: taps/s and texts/s) and, unless `--count 0`, measurement 2 (N due invitations, limits
and pacing off: messages/s). Each tree's bot runs its own code: `python -m bot run` with the
tree first on PYTHONPATH and as the working directory, with this interpreter (the
dependencies must be the same). The Telegram stand-in and the database seeding are this checkout's.

    python benchmarks/answers_ab.py --before PATH [--after PATH] [--answers 1000]
        [--count 3000] [--rounds 3] [--before-first]

Prints each round's figures, then the medians, the ratios after/before and each tree's
ratio to the echo bots.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from delivery import ROOT, answers, deliver, echo

FIGURES = ("taps_per_second", "texts_per_second", "delivery_per_second")


def check_source(source: Path) -> None:
    """Fail early unless a child started the way `start_bot` starts it imports `source`."""
    environment = dict(os.environ, PYTHONPATH=str(source))
    found = subprocess.run(
        [sys.executable, "-c", "import bot, surveys; print(bot.__file__, surveys.__file__)"],
        cwd=source,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not all(Path(path).resolve().is_relative_to(source) for path in found):
        raise SystemExit(f"a child started in {source} imports {found}")


def revision(source: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "?"


def measure(
    args: argparse.Namespace, workdir: Path, source: Path, number: int
) -> dict[str, float]:
    """One tree's figures for one round, each run in its own directory (fresh database)."""
    directory = workdir / f"run-{number}"
    directory.mkdir()
    figures = answers(args, directory, number, source=source)
    if args.count:
        figures["delivery_per_second"] = deliver(args, directory, limited=False, source=source)[
            "per_second"
        ]
    return figures


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="tree B (the baseline)")
    parser.add_argument("--after", type=Path, default=ROOT, help="tree A (default: this one)")
    parser.add_argument("--answers", type=int, default=1_000)
    parser.add_argument("--count", type=int, default=3_000, help="raw delivery (0: skip)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--before-first", action="store_true", help="run B before A in every round"
    )
    args = parser.parse_args()
    args.database_url = None
    args.instances = 1
    trees = {"after": args.after.resolve(), "before": args.before.resolve()}
    if args.before_first:
        trees = dict(reversed(trees.items()))
    for source in trees.values():
        check_source(source)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite (WAL); {args.answers} answers, "
        f"{args.count} deliveries, {args.rounds} rounds"
    )
    for name, source in trees.items():
        print(f"{name:6}: {source} ({revision(source)})")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    echoes: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        number = 0
        for round_ in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            echoes.append((echo(args), echo(args, calls=2)))
            print(
                f"round {round_} (load {load:.1f}): echo {echoes[-1][0]:.0f}/s, "
                f"echo 2 calls {echoes[-1][1]:.0f}/s"
            )
            for name, source in trees.items():
                number += 1
                figures = measure(args, workdir, source, number)
                runs[name].append(figures)
                print(
                    f"  {name:6}: taps {figures['taps_per_second']:.0f}/s, texts "
                    f"{figures['texts_per_second']:.0f}/s"
                    + (
                        f", delivery {figures['delivery_per_second']:.0f} messages/s"
                        if args.count
                        else ""
                    )
                )
    print(f"load at the end: {os.getloadavg()[0]:.1f}")
    one_call = statistics.median(rate for rate, _ in echoes)
    two_calls = statistics.median(rate for _, rate in echoes)
    print(f"\nmedians of {args.rounds} rounds")
    print(f"echo bot           : {one_call:.0f} updates/s")
    print(f"echo bot, 2 calls  : {two_calls:.0f} updates/s, ratio {two_calls / one_call:.2f}")
    for key in FIGURES[:2] if not args.count else FIGURES:
        after, before = median(runs["after"], key), median(runs["before"], key)
        label = key.removesuffix("_per_second")
        print(f"{label:8}: after {after:.0f}/s, before {before:.0f}/s, ratio {after / before:.2f}")
        if key != "delivery_per_second":
            for name, value in (("after", after), ("before", before)):
                print(
                    f"          {name}: {value / one_call:.2f} of the echo bot, "
                    f"{value / two_calls:.2f} of the echo bot with 2 calls"
                )


if __name__ == "__main__":
    main()
