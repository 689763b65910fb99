"""`churnbot secret rotate`: retire every deep link and button signed so far.

`register(app)` adds the command group to the main typer app (called from bot/cli.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli_style import ChurnbotTyper

secret_app = ChurnbotTyper(
    help="The key that signs deep links and survey buttons.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the `secret` command group to the churnbot Typer app."""
    app.add_typer(secret_app, name="secret")


@secret_app.command("rotate")
def rotate_command(
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation.", metavar="")
    ] = False,
) -> None:
    """Sign with a new key generation: every link and button made before is refused as
    expired (customers are told so). Restart every running instance afterwards."""
    from bot.cli_context import settings as load
    from storage import db as database
    from storage.session import run_unit
    from surveys.keyring import rotate

    settings = load()
    if not yes:
        typer.confirm(
            "Every deep link and survey button made so far will stop working. Go on?",
            abort=True,
        )
    configured = (
        settings.secret_key.get_secret_value().strip() if settings.secret_key else ""
    ) or None
    engine = database.make_engine(settings.database_url)
    try:
        database.upgrade(engine)
        done = run_unit(engine, lambda session: rotate(session=session, configured=configured))
    finally:
        engine.dispose()
    typer.echo(f"signing key rotated to generation {done.generation}.")
    if done.replaced_generated_key:
        typer.echo("The generated key in the database was replaced by a new one.")
    else:
        typer.echo(
            "SECRET_KEY is set and was left as it is; if it leaked, set a new SECRET_KEY too."
        )
        if done.deleted_stale_key:
            typer.echo("A key generated before SECRET_KEY was set was deleted from the database.")
    typer.echo("Restart every running churnbot instance: until then they sign the old way.")
