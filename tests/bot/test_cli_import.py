"""`churnbot customers import`: encodings Excel writes, and refusals that keep data intact."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from storage.models import Customer
from storage.session import run_unit
from tests.auxil.cli import Invoke

ROWS = "customer_id,name,language\nacme-1,Zoë Müller,de\nacme-2,José Peña,es\n"


def _customers(db: Engine) -> dict[str, Customer]:
    return run_unit(db, lambda session: {c.external_id: c for c in session.exec(select(Customer))})


def _import(invoke: Invoke, path: Path, *extra: str):
    return invoke("customers", "import", str(path), *extra)


def test_latin_1_file_is_read_as_windows_1252_with_a_warning(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(ROWS.encode("cp1252"))

    result = _import(invoke, path)

    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr
    assert "Windows-1252" in result.stderr
    customers = _customers(cli_db)
    assert customers["acme-1"].name == "Zoë Müller"
    assert customers["acme-2"].name == "José Peña"


def test_utf_16_file_with_bom_and_tabs_is_read_as_excel_wrote_it(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes(ROWS.replace(",", "\t").replace("\n", "\r\n").encode("utf-16"))

    result = _import(invoke, path)

    assert result.exit_code == 0, result.output
    assert "imported 2 customers" in result.stdout
    assert "warning" not in result.stderr
    assert _customers(cli_db)["acme-1"].name == "Zoë Müller"


def test_chat_of_another_customer_is_refused_per_line_and_nothing_is_imported(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("customer_id,telegram_chat_id\nacme-1,5001\n", encoding="utf-8")
    assert _import(invoke, first).exit_code == 0
    second = tmp_path / "second.csv"
    second.write_text(
        "customer_id,telegram_chat_id,name\nacme-3,,Three\nacme-2,5001,Two\n", encoding="utf-8"
    )

    result = _import(invoke, second)

    assert result.exit_code == 2
    assert "line 3: telegram_chat_id 5001 belongs to customer 'acme-1'" in result.stderr
    assert "--move-chats" in result.stderr
    customers = _customers(cli_db)
    assert set(customers) == {"acme-1"}  # not even the good line was stored
    assert customers["acme-1"].telegram_chat_id == 5001


def test_move_chats_moves_the_chat_to_the_new_customer(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("customer_id,telegram_chat_id\nacme-1,5001\n", encoding="utf-8")
    assert _import(invoke, first).exit_code == 0
    second = tmp_path / "second.csv"
    second.write_text("customer_id,telegram_chat_id\nacme-2,5001\n", encoding="utf-8")

    result = _import(invoke, second, "--move-chats")

    assert result.exit_code == 0, result.output
    customers = _customers(cli_db)
    assert customers["acme-1"].telegram_chat_id is None
    assert customers["acme-2"].telegram_chat_id == 5001


def test_same_chat_twice_in_one_file_is_refused(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("customer_id,telegram_chat_id\nacme-1,5001\nacme-2,5001\n", encoding="utf-8")

    result = _import(invoke, path)

    assert result.exit_code == 2
    assert "line 3: telegram_chat_id 5001 belongs to customer 'acme-1'" in result.stderr
    assert _customers(cli_db) == {}


def test_negative_revenue_and_unknown_language_are_refused_each_on_its_line(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "customer_id,monthly_revenue,language\n"
        "acme-1,-50,en\n"
        "acme-2,10,xx\n"
        "acme-3,inf,en\n"
        "acme-4,12.5,DE\n",
        encoding="utf-8",
    )

    result = _import(invoke, path)

    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.stderr
    assert "line 2: monthly_revenue '-50' must be 0 or more" in errors[0]
    assert "line 3: language 'xx' is not one of" in errors[1]
    assert "line 4: monthly_revenue 'inf'" in errors[2]
    assert "nothing was imported" in result.stderr
    assert _customers(cli_db) == {}


def test_nul_in_an_imported_name_is_removed_as_for_every_inbound_text(
    invoke: Invoke, cli_db: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "nul.csv"
    path.write_text("customer_id,name,language\nacme-9,Bad\x00Name,en\n", encoding="utf-8")

    result = _import(invoke, path)

    assert result.exit_code == 0, result.output
    assert _customers(cli_db)["acme-9"].name == "BadName"
