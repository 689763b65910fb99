"""The look of every `churnbot` command: plain usage names, help without `<bool>`, and a
failure as one `error:` line.

Its own module so that the command groups (bot/cli_*.py) use it without importing bot/cli.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand
from typer.models import CommandFunctionType

from bot.logs import mask_secrets
from bot.settings import load_settings

err = Console(stderr=True, soft_wrap=True)


class ChurnbotCommand(TyperCommand):
    """A command whose usage line names arguments the usual way (`CUSTOMER_ID`,
    `[FILE]`), not typer's `{customer_id}`."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


class ChurnbotTyper(typer.Typer):
    """`typer.Typer` whose commands use `ChurnbotCommand` and whose help shows no `<bool>`
    beside flags (plain click help: rich's help marks every flag with its type).

    Every command group of the CLI is one; the top-level app adds `cls=ChurnbotGroup`
    (bot/cli.py), whose `invoke` turns any failure below it into one line."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", ChurnbotCommand)
        return super().command(*args, **kwargs)


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Print `error: message` as one line (secrets masked) and stop with `code`."""
    line = " ".join(mask_secrets(message, configured_secrets()).split())
    err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
    raise typer.Exit(code)


def configured_secrets() -> list[str]:
    """The secrets of the current settings, to mask; none when settings cannot load."""
    with contextlib.suppress(Exception):
        return load_settings().secrets()
    return []
