"""The look of every `churnbot` command: plain usage names and help without `<bool>`.

Its own module so that the command groups (bot/cli_*.py) use it without importing bot/cli.py.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand


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

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", ChurnbotCommand)
        return super().command(*args, **kwargs)
