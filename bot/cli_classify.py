"""`churnbot classify` and `churnbot reclassify`: the classifier from the command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from surveys.classification import CATEGORIES, SENTIMENTS, Classifier
from surveys.classification.evaluation import evaluate, read_labelled


def register(app: typer.Typer) -> None:
    """Add the `classify` and `reclassify` commands to the churnbot Typer app."""
    app.command("classify")(classify_command)
    app.command("reclassify")(reclassify_command)


def classify_command(
    text: Annotated[str | None, typer.Argument(help="The text to classify.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language hint, e.g. de.")] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help='Read {"id","text","lang"?} lines on stdin.')
    ] = False,
    eval_file: Annotated[
        Path | None, typer.Option("--eval", help="Score a labelled JSON-lines file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable --eval.")] = False,
) -> None:
    """Classify a text, a stream of JSON lines, or score a labelled file."""
    classifier = Classifier.load()
    if eval_file is not None:
        _print_evaluation(classifier, eval_file, as_json=as_json)
    elif jsonl:
        _classify_stream(classifier)
    elif text is not None:
        result = classifier.classify(text, language=lang)
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        raise typer.BadParameter("give a TEXT, --jsonl or --eval FILE")


def _classify_stream(classifier: Classifier) -> None:
    out = sys.stdout
    for number, line in enumerate(sys.stdin, start=1):
        if line.strip():
            record = _classify_line(classifier, line, number)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _classify_line(classifier: Classifier, line: str, number: int) -> dict[str, Any]:
    """Classify one JSON line; a malformed line gets an error record instead."""
    try:
        item = json.loads(line)
    except ValueError as error:
        return {"id": None, "line": number, "error": f"invalid JSON: {error}"}
    if not isinstance(item, dict):
        return {"id": None, "line": number, "error": "a line must be a JSON object"}
    text, lang = item.get("text"), item.get("lang")
    if not isinstance(text, str):
        return {"id": item.get("id"), "line": number, "error": '"text" must be a string'}
    result = classifier.classify(text, language=lang if isinstance(lang, str) else None)
    return {"id": item.get("id"), **result.to_dict()}


def _print_evaluation(classifier: Classifier, path: Path, *, as_json: bool) -> None:
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}", param_hint="--eval")
    try:
        report = evaluate(classifier, read_labelled(path))
    except (KeyError, ValueError) as error:
        reason = f"every line needs {error}" if isinstance(error, KeyError) else str(error)
        Console(stderr=True).print(f"error: --eval {path.name}: {reason}", markup=False)
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console = Console()
    if console.width < 140:
        console = Console(width=140)
    for group in ("all", "en", "other"):
        if group not in report:
            continue
        title = {"all": "all languages", "en": "English", "other": "other languages"}[group]
        for task, labels in (("category", CATEGORIES), ("sentiment", SENTIMENTS)):
            scores = report[group][task]
            console.print(
                f"[bold]{title} · {task}[/bold]: n={scores['count']} "
                f"accuracy={scores['accuracy']:.3f} macro-F1={scores['macro_f1']:.3f}"
            )
            table = Table("label", "precision", "recall", "F1", "support")
            for label in labels:
                row = scores["per_label"][label]
                table.add_row(
                    label,
                    f"{row['precision']:.2f}",
                    f"{row['recall']:.2f}",
                    f"{row['f1']:.2f}",
                    str(row["support"]),
                )
            console.print(table)
            matrix = Table("gold \\ predicted", *[_short(label) for label in labels])
            for label in labels:
                counts = scores["confusion"].get(label, {})
                matrix.add_row(label, *[str(counts.get(other, 0) or ".") for other in labels])
            console.print(matrix)


def _short(label: str) -> str:
    return "".join(part[:3] for part in label.split("_"))


def reclassify_command(
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only answers given on or after this date (UTC)."),
    ] = None,
) -> None:
    """Re-run the current classifier over stored answers (corrections are kept)."""
    from sqlmodel import Session

    from bot.settings import load_settings
    from storage.clock import as_utc
    from storage.db import make_engine, upgrade
    from surveys.classification.service import reclassify

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    classifier = Classifier.load()
    with Session(engine) as session:
        count = reclassify(
            session=session,
            classifier=classifier,
            since=as_utc(since) if since is not None else None,
        )
        session.commit()
    typer.echo(f"reclassified {count} answers")
