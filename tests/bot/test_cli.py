"""The `churnbot` command line, run in-process with typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from bot.context import Deps
from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    Event,
    LabelCorrection,
    SurveyInvitation,
)
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.signing import read_link_token
from tests.auxil.cli import BOT_USERNAME, SECRET, Invoke
from tests.auxil.factories import button_data, open_survey, say, tap

MIXED_TEXT = 'Zu teuer, "wirklich" – 价格太贵 😞 گران است\nzweite Zeile'


def _one_line(output: str) -> str:
    return " ".join(output.split())


def _customer_id(db: Engine, external_id: str) -> int:
    customer = run_unit(
        db,
        lambda session: customer_queries.get_by_external_id(
            session=session, external_id=external_id
        ),
    )
    assert customer is not None
    assert customer.id is not None
    return customer.id


def _count(db: Engine, table: type) -> int:
    return run_unit(
        db, lambda session: session.exec(select(func.count()).select_from(table)).one()
    )


def _assert_valid_token(db: Engine, token: str, external_id: str) -> None:
    now = datetime.now(UTC)
    claim = read_link_token(SECRET.encode(), token, now)
    assert claim.customer_id == _customer_id(db, external_id)
    # Valid for LINK_TOKEN_DAYS (30 by default), not longer.
    read_link_token(SECRET.encode(), token, now + timedelta(days=29))


def test_link_token_only_prints_a_valid_token(invoke: Invoke, cli_db: Engine) -> None:
    result = invoke("link", "acme-42", "--token-only")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert "\n" not in token
    _assert_valid_token(cli_db, token, "acme-42")


def test_link_prints_a_telegram_deep_link(invoke: Invoke, cli_db: Engine) -> None:
    result = invoke("link", "acme-42")

    assert result.exit_code == 0, result.output
    url = urlparse(result.stdout.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "t.me", f"/{BOT_USERNAME}")
    [token] = parse_qs(url.query)["start"]
    assert result.stdout.strip() == f"https://t.me/{BOT_USERNAME}?start={token}"
    _assert_valid_token(cli_db, token, "acme-42")


def test_event_cancel_twice_records_one_event(invoke: Invoke, cli_db: Engine) -> None:
    first = invoke("event", "cancel", "acme-42", "--ref", "SUB-9")
    second = invoke("event", "cancel", "acme-42", "--ref", "SUB-9")

    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("recorded event cancel:acme-42:SUB-9")
    assert second.exit_code == 0, second.output
    assert "already recorded" in second.stdout
    assert _count(cli_db, Event) == 1
    assert _count(cli_db, SurveyInvitation) == 1


def test_event_interaction_with_a_bad_date_fails_with_a_clear_message(
    invoke: Invoke, cli_db: Engine
) -> None:
    result = invoke("event", "interaction", "acme-42", "--ref", "T-1", "--at", "last tuesday")

    assert result.exit_code != 0
    assert "'last tuesday' is not an ISO date-time" in result.output
    assert _count(cli_db, Event) == 0


def test_event_interaction_with_an_iso_date_records_that_time(
    invoke: Invoke, cli_db: Engine
) -> None:
    result = invoke(
        "event", "interaction", "acme-42", "--ref", "T-1", "--at", "2026-11-01T12:30:00+02:00"
    )

    assert result.exit_code == 0, result.output
    stored = run_unit(cli_db, lambda session: session.exec(select(Event)).one())
    assert stored.type == events.INTERACTION_COMPLETED
    assert stored.occurred_at == datetime(2026, 11, 1, 10, 30, tzinfo=UTC)


def test_customers_import_sets_chat_ids_and_profiles(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,telegram_chat_id,name,language,plan,monthly_revenue,company\n"
        "acme-1,100200300,Ada,de,pro,49.5,Acme GmbH\n"
        "acme-2,,Zoë Ng,zh,,,\n",
        encoding="utf-8",
    )

    result = invoke("customers", "import", str(path))

    assert result.exit_code == 0, result.output
    assert "imported 2 customers" in result.stdout
    customers = run_unit(
        cli_db,
        lambda session: {c.external_id: c for c in session.exec(select(Customer))},
    )
    ada, zoe = customers["acme-1"], customers["acme-2"]
    assert (ada.telegram_chat_id, ada.name, ada.language) == (100200300, "Ada", "de")
    assert (ada.plan, ada.monthly_revenue) == ("pro", 49.5)
    assert ada.attributes == {"company": "Acme GmbH"}
    assert (zoe.telegram_chat_id, zoe.name, zoe.language) == (None, "Zoë Ng", "zh")


def test_customers_import_with_a_bad_row_fails_naming_the_line(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,telegram_chat_id\nacme-1,100200300\nacme-2,not-a-number\n",
        encoding="utf-8",
    )

    result = invoke("customers", "import", str(path))

    assert result.exit_code != 0
    message = _one_line(result.output)
    assert "customers.csv" in message
    assert "line 3" in message
    assert "telegram_chat_id 'not-a-number' is not a number" in message
    assert _count(cli_db, Customer) == 0


@pytest.fixture
def stored_answers(cli_deps: Deps) -> None:
    """Two answers stored through the engine: a reason and a mixed-script text."""
    survey = open_survey(cli_deps, customer="acme-42", event_type=events.SUBSCRIPTION_CANCELLED)
    tap(cli_deps, survey.chat_id, button_data(survey.prompt, "It's too expensive"))
    say(cli_deps, survey.chat_id, MIXED_TEXT)


def _check_rows(rows: list[dict[str, object]]) -> None:
    assert [row["question"] for row in rows] == ["reason", "details"]
    reason, details = rows
    assert reason["customer_id"] == details["customer_id"] == "acme-42"
    assert reason["survey"] == "exit"
    assert reason["choice"] == "price"
    assert details["text"] == MIXED_TEXT


@pytest.mark.usefixtures("stored_answers")
def test_export_answers_jsonl_contains_the_stored_answers(
    invoke: Invoke,
) -> None:
    result = invoke("export", "answers", "--format", "jsonl")

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    _check_rows(rows)
    assert "价格太贵" in result.stdout  # written as UTF-8, not \\u escapes


@pytest.mark.usefixtures("stored_answers")
def test_export_answers_csv_contains_the_stored_answers(
    invoke: Invoke,
) -> None:
    result = invoke("export", "answers", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert list(rows[0]) == [
        "answer_id",
        "customer_id",
        "survey",
        "question",
        "value",
        "choice",
        "text",
        "language",
        "answered_at",
        "category",
        "sentiment",
        "confidence",
        "auto_category",
        "auto_sentiment",
        "corrected_category",
        "corrected_sentiment",
        "corrected_by",
        "corrected_at",
    ]
    _check_rows(rows)


@pytest.mark.usefixtures("stored_answers")
@pytest.mark.parametrize("export_format", ["jsonl", "csv"])
def test_export_answers_to_a_file_writes_the_stored_answers(
    invoke: Invoke, tmp_path: Path, export_format: str
) -> None:
    target = tmp_path / f"answers.{export_format}"

    result = invoke("export", "answers", "--format", export_format, "--output", str(target))

    assert result.exit_code == 0, result.output
    assert "wrote 2 answers" in result.stdout
    content = target.read_text(encoding="utf-8")
    if export_format == "jsonl":
        rows = [json.loads(line) for line in content.splitlines()]
    else:
        rows = list(csv.DictReader(io.StringIO(content, newline="")))
    _check_rows(rows)


def test_export_answers_with_an_unknown_format_fails(invoke: Invoke) -> None:
    result = invoke("export", "answers", "--format", "xml")

    assert result.exit_code != 0
    assert "jsonl or csv" in result.output


def test_surveys_check_passes_on_the_shipped_definitions(invoke: Invoke) -> None:
    result = invoke("surveys", "check")

    assert result.exit_code == 0, result.output
    assert "all survey definitions are valid" in result.stdout


def test_surveys_check_with_a_broken_file_exits_1_naming_file_and_question(
    invoke: Invoke, tmp_path: Path
) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "broken.yaml").write_text(
        "key: broken\n"
        "title: {en: Broken}\n"
        "languages: [en]\n"
        "questions:\n"
        "  - key: first\n"
        "    type: text\n"
        "    text: {en: 'First?'}\n"
        "    next: [{goto: nowhere}]\n"
        "closing: {text: {en: Thanks}}\n",
        encoding="utf-8",
    )

    result = invoke("surveys", "check", str(folder))

    assert result.exit_code == 1
    message = _one_line(result.output)
    assert "broken.yaml" in message
    assert "question 'first'" in message
    assert "goto 'nowhere' names no question" in message


def test_invalid_timezone_exits_2_with_one_line_naming_timezone(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")

    result = invoke("link", "acme-42")

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "TIMEZONE" in lines[0]
    assert "Mars/Olympus" in lines[0]


def test_long_setting_error_stays_on_one_line(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMEZONE", "Europe/Definitely_Not_A_Real_Zone_Name")

    result = invoke("link", "acme-42")

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines


def test_event_cancel_of_one_subscription_with_two_event_ids_queues_one_exit_survey(
    invoke: Invoke, cli_db: Engine
) -> None:
    first = invoke("event", "cancel", "acme-42", "--ref", "SUB-9", "--event-id", "bill-1")
    second = invoke("event", "cancel", "acme-42", "--ref", "SUB-9", "--event-id", "bill-2")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert _count(cli_db, Event) == 2
    assert _count(cli_db, SurveyInvitation) == 1
    assert "exit survey invitation #1 pending" in first.stdout
    assert "no new exit survey: subscription SUB-9 already has invitation #1" in second.stdout


def test_event_cancel_involuntary_prints_the_invitation_as_stored(
    invoke: Invoke, cli_db: Engine
) -> None:
    result = invoke("event", "cancel", "acme-42", "--ref", "SUB-9", "--involuntary")

    assert result.exit_code == 0, result.output
    line = _one_line(result.stdout)
    assert "exit survey invitation #1 skipped (involuntary cancellation" in line
    assert "invitations:" not in line
    assert "None" not in line


def _classify_and_correct(engine: Engine) -> None:
    """Label the reason answer automatically, and correct the details answer twice."""
    with Session(engine) as session:
        reason, details = session.exec(select(Answer).order_by(col(Answer.id))).all()
        for answer, category in ((reason, "price"), (details, "other")):
            if session.get(AnswerClassification, answer.id) is None:
                session.add(
                    AnswerClassification(
                        answer_id=answer.id,
                        category=category,
                        sentiment="neutral",
                        confidence=0.75,
                        method="test",
                        classifier_version="test",
                    )
                )
        at = datetime(2026, 11, 20, tzinfo=UTC)
        session.add(LabelCorrection(answer_id=details.id, category="bugs_reliability",
                                    corrected_by="U0", corrected_at=at))  # fmt: skip
        session.add(LabelCorrection(answer_id=details.id, category="competitor",
                                    sentiment="negative", corrected_by="U1",
                                    corrected_at=at + timedelta(hours=1)))  # fmt: skip
        session.commit()


@pytest.mark.usefixtures("stored_answers")
@pytest.mark.parametrize("export_format", ["jsonl", "csv"])
def test_export_answers_has_the_effective_label_the_original_and_the_correction(
    invoke: Invoke, cli_db: Engine, export_format: str
) -> None:
    _classify_and_correct(cli_db)

    result = invoke("export", "answers", "--format", export_format)

    assert result.exit_code == 0, result.output
    if export_format == "jsonl":
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    reason, details = rows
    assert reason["category"] == reason["auto_category"] == "price"
    assert float(reason["confidence"]) > 0
    assert reason["corrected_category"] in (None, "")
    assert details["category"] == "competitor"  # the latest correction wins
    assert details["sentiment"] == "negative"
    assert details["auto_category"] != "competitor"
    assert details["auto_sentiment"]
    assert (details["corrected_category"], details["corrected_by"]) == ("competitor", "U1")
    assert details["corrected_at"].startswith("2026-11-20T01:00")


@pytest.mark.parametrize("hostile", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_export_answers_csv_defuses_formulas_but_jsonl_keeps_the_text(
    invoke: Invoke, cli_deps: Deps, hostile: str
) -> None:
    survey = open_survey(cli_deps, customer="acme-42", event_type=events.SUBSCRIPTION_CANCELLED)
    tap(cli_deps, survey.chat_id, button_data(survey.prompt, "It's too expensive"))
    say(cli_deps, survey.chat_id, hostile)

    as_csv = invoke("export", "answers", "--format", "csv")
    as_jsonl = invoke("export", "answers", "--format", "jsonl")

    rows = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert rows[1]["text"] == f"'{hostile}"
    assert all(
        not str(cell).startswith(("=", "+", "-", "@")) for row in rows for cell in row.values()
    )
    assert json.loads(as_jsonl.stdout.splitlines()[1])["text"] == hostile
