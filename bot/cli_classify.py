"""`churnbot classify …` and `churnbot reclassify`: the classifier from the command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from bot.cli_style import ChurnbotTyper
from surveys.classification import CATEGORIES, SENTIMENTS, Classifier
from surveys.classification.evaluation import evaluate, read_labelled


class _TextByDefault(TyperGroup):
    """`churnbot classify "some text"` classifies the text; known words are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            return "text", self.commands["text"], args
        return super().resolve_command(ctx, args)


classify_app = ChurnbotTyper(
    cls=_TextByDefault,
    invoke_without_command=True,
    no_args_is_help=False,
    help="Classify a text (`classify TEXT`), a stream, a labelled file; train the model.",
)


def register(app: typer.Typer) -> None:
    """Add the `classify` group and the `reclassify` command to the churnbot Typer app."""
    app.add_typer(classify_app, name="classify")
    app.command("reclassify")(reclassify_command)


@classify_app.callback()
def classify_group(
    ctx: typer.Context,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help='Read {"id","text","lang"?} lines on stdin.')
    ] = False,
    eval_file: Annotated[
        Path | None,
        typer.Option("--eval", metavar="FILE", help="Score a labelled JSON-lines file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable --eval.")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="Language hint, e.g. de.")] = None,
) -> None:
    """Classify a text, a stream of JSON lines, or score a labelled file; train the model."""
    ctx.obj = {"lang": lang}
    if ctx.invoked_subcommand is not None:
        return
    if eval_file is not None:
        _print_evaluation(eval_file, as_json=as_json)
    elif jsonl:
        _classify_stream(_classifier())
    else:
        raise typer.BadParameter("give a TEXT, --jsonl, --eval FILE or a subcommand")


@classify_app.command("text", hidden=True)
def classify_text(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The text to classify.")],
    lang: Annotated[str | None, typer.Option("--lang", help="Language hint, e.g. de.")] = None,
) -> None:
    """Classify one text and print the result as JSON."""
    hint = lang or (ctx.obj or {}).get("lang")
    result = _classifier().classify(text, language=hint)
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))


def _classifier() -> Classifier:
    """The shipped model, or this instance's retrained one when DATABASE_URL has one."""
    classifier = Classifier.load()
    engine = _engine_if_configured()
    if engine is None:
        return classifier
    from sqlmodel import Session

    from surveys.classification.service import current_model

    with Session(engine) as session:
        return current_model(session, classifier)


def _engine_if_configured() -> Any:
    import os

    if not os.environ.get("DATABASE_URL") and not Path(".env").is_file():
        return None
    from bot.settings import load_settings
    from storage.db import make_engine, upgrade

    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


@classify_app.command("check-corpus")
def check_corpus_command(
    dev: Annotated[
        Path | None,
        typer.Option("--dev", metavar="FILE", help="Dev set whose texts must not appear."),
    ] = None,
) -> None:
    """Check the shipped corpus: labels, duplicates, dev-set overlap, counts (CI runs it)."""
    from surveys.classification.corpus_check import DEFAULT_DEV_SET, main

    code = main(["--dev", str(dev or DEFAULT_DEV_SET)])
    raise typer.Exit(code)


@classify_app.command("train")
def train_command(
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Where to write the model.")
    ] = None,
) -> None:
    """Train the shipped model on the corpus's training split (deterministic)."""
    from surveys.classification.corpus import corpus_hash, read_corpus, split
    from surveys.classification.learned import MODEL_PATH
    from surveys.classification.training import train

    examples = read_corpus()
    training, held_out = split(examples)
    model = train(training, corpus_hash=corpus_hash(examples))
    data = model.to_bytes()
    target = output or MODEL_PATH
    target.write_bytes(data)
    typer.echo(
        f"trained {model.version} on {len(training)} examples "
        f"({len(model.featurizer.vocabulary)} features, {len(data) / 1e6:.1f} MB) → {target}"
    )
    report = evaluate(Classifier(model), [_labelled(example) for example in held_out])
    _print_report(report, title=f"held-out split ({len(held_out)})")


@classify_app.command("cv")
def cross_validate_command(
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Number of folds.")] = 5,
) -> None:
    """k-fold cross-validation on the corpus's training split (docs/classification.md)."""
    from surveys.classification.corpus import read_corpus, split
    from surveys.classification.training import cross_validate

    training, _held_out = split(read_corpus())
    _print_report(cross_validate(training, folds), title=f"{folds}-fold cross-validation")


@classify_app.command("retrain")
def retrain_command(
    force: Annotated[
        bool, typer.Option("--force", help="Install the new model even if it scores worse.")
    ] = False,
) -> None:
    """Refit on the corpus plus this instance's examples; install it unless it is worse."""
    from sqlmodel import Session

    from surveys.classification.retraining import retrain

    engine = _engine_if_configured()
    if engine is None:
        raise typer.BadParameter("set DATABASE_URL (the instance's examples live there)")
    with Session(engine) as session:
        outcome = retrain(session=session, base=Classifier.load(), force=force)
        session.commit()
    typer.echo(f"instance examples: {outcome.instance_examples}")
    table = Table("held-out figure", "in use", "retrained")
    for key, value in outcome.before.items():
        table.add_row(key, f"{value:.3f}", f"{outcome.after[key]:.3f}")
    Console(width=100).print(table)
    if outcome.installed:
        typer.echo(f"installed {outcome.version}; running bots switch to it on the next answer")
    else:
        typer.echo("not installed: the retrained model scores worse (use --force to install)")
        raise typer.Exit(1)


def _labelled(example: Any) -> dict[str, Any]:
    return {
        "text": example.text,
        "lang": example.lang,
        "category": example.category,
        "sentiment": example.sentiment,
    }


def _classify_stream(classifier: Classifier, batch: int = 512) -> None:
    out = sys.stdout
    pending: list[tuple[int, str]] = []
    for number, line in enumerate(sys.stdin, start=1):
        if line.strip():
            pending.append((number, line))
        if len(pending) >= batch:
            _flush(classifier, pending, out)
    _flush(classifier, pending, out)
    out.flush()


def _flush(classifier: Classifier, pending: list[tuple[int, str]], out: Any) -> None:
    """Classify a batch of JSON lines; a malformed line gets an error record instead."""
    records: list[dict[str, Any]] = []
    texts: list[tuple[int, str, str | None]] = []
    for number, line in pending:
        try:
            item = json.loads(line)
        except ValueError as error:
            records.append({"id": None, "line": number, "error": f"invalid JSON: {error}"})
            continue
        if not isinstance(item, dict):
            records.append({"id": None, "line": number, "error": "a line must be a JSON object"})
            continue
        text, lang = item.get("text"), item.get("lang")
        if not isinstance(text, str):
            records.append(
                {"id": item.get("id"), "line": number, "error": '"text" must be a string'}
            )
            continue
        records.append({"id": item.get("id")})
        texts.append((len(records) - 1, text, lang if isinstance(lang, str) else None))
    results = classifier.classify_many(
        [text for _, text, _ in texts], languages=[lang for _, _, lang in texts]
    )
    for (position, _, _), result in zip(texts, results, strict=True):
        records[position].update(result.to_dict())
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    pending.clear()


def _print_evaluation(path: Path, *, as_json: bool) -> None:
    """Score the labelled file; the file is checked before any database is opened."""
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {path}", param_hint="--eval")
    try:
        examples = read_labelled(path)
    except (KeyError, ValueError, UnicodeDecodeError) as error:
        # ValueError names the file and line itself.
        reason = f"{path.name}: every line needs {error}" if isinstance(error, KeyError) else error
        Console(stderr=True, soft_wrap=True).print(
            f"error: --eval {reason}", markup=False, highlight=False
        )
        raise typer.Exit(2) from error
    report = evaluate(_classifier(), examples)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print_report(report, title=str(path))


def _print_report(report: dict[str, Any], *, title: str) -> None:
    console = Console(width=max(140, Console().width))
    console.print(f"[bold]{title}[/bold]")
    names = {"all": "all languages", "en": "English", "other": "other languages"}
    for group in ("all", "en", "other"):
        if group not in report:
            continue
        for task, labels in (("category", CATEGORIES), ("sentiment", SENTIMENTS)):
            scores = report[group][task]
            console.print(
                f"[bold]{names[group]} · {task}[/bold]: n={scores['count']} "
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
    languages = Table("language", "n", "category macro-F1", "sentiment accuracy")
    for group, scores in report.items():
        if group in ("all", "en", "other", "errors"):
            continue
        languages.add_row(
            group,
            str(scores["category"]["count"]),
            f"{scores['category']['macro_f1']:.3f}",
            f"{scores['sentiment']['accuracy']:.3f}",
        )
    console.print(languages)


def _short(label: str) -> str:
    return "".join(part[:3] for part in label.split("_"))


def reclassify_command(
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only answers given on or after this date (UTC)."),
    ] = None,
) -> None:
    """Re-run the current model over stored answers (corrections are kept)."""
    from sqlmodel import Session

    from bot.settings import load_settings
    from storage.clock import as_utc
    from storage.db import make_engine, upgrade
    from surveys.classification.service import reclassify

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with Session(engine) as session:
        count = reclassify(
            session=session,
            classifier=Classifier.load(),
            since=as_utc(since) if since is not None else None,
        )
        session.commit()
    typer.echo(f"reclassified {count} answers")
