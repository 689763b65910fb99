"""Check the shipped corpus (CI runs this), or import a staging corpus into the package.

    python -m surveys.classification.corpus_check [--dev FILE]
    python -m surveys.classification.corpus_check --import-from DIR [--dev FILE]
    python -m surveys.classification.corpus_check --counts   (the tables of docs/corpus.md)

Exit code 0 when the corpus passes, 1 with one line per problem otherwise. The dev set
(`$CHURN_DEV_SET`, else `../shared/data/churn_reasons_dev.jsonl` beside the checkout) is
only read to make sure none of its texts is in the corpus; when absent that part is skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from surveys.classification.corpus import (
    CORPUS_DIR,
    check_corpus,
    counts_table,
    import_corpus,
    read_corpus,
)

DEFAULT_DEV_SET = Path(
    os.environ.get("CHURN_DEV_SET")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "churn_reasons_dev.jsonl"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV_SET)
    parser.add_argument("--import-from", type=Path, default=None)
    parser.add_argument(
        "--counts", action="store_true", help="Print the datasheet's count tables and stop."
    )
    args = parser.parse_args(argv)
    if args.counts:
        print(counts_table(read_corpus(args.corpus)), end="")
        return 0
    if args.import_from is not None:
        written, dropped = import_corpus(args.import_from, args.corpus, dev_set=args.dev)
        for line in dropped:
            print(f"dropped: {line}")
        print(f"imported {written} examples into {args.corpus} ({len(dropped)} dropped)")
    report = check_corpus(args.corpus, dev_set=args.dev)
    for note in report.notes:
        print(note)
    for problem in report.problems:
        print(f"problem: {problem}")
    print("corpus ok" if report.ok else f"corpus check failed: {len(report.problems)} problems")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
