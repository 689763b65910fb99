"""The signing key's life: where it comes from, its generation, and rotating it.

`SECRET_KEY`, when set, lives only in the environment: nothing here writes it, or anything
derived from it, to the database. Without it, a key is generated once and kept in
`app_state.secret_key`, so every instance on the database signs alike; that row is a
secret (whoever reads it can forge links and buttons: see docs/security.md). The key
generation (`app_state.secret_generation`, not a secret) is what `churnbot secret rotate`
moves on: links and buttons of an earlier generation are then refused as expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session

from storage.queries import app_state
from surveys.signing import SigningKey

GENERATED_KEY = "secret_key"
GENERATION_KEY = "secret_generation"


@dataclass(frozen=True)
class Rotation:
    """What `rotate` did: the new generation, and whether the stored key was replaced (no
    SECRET_KEY) or a stale stored key deleted (SECRET_KEY set)."""

    generation: int
    replaced_generated_key: bool
    deleted_stale_key: bool


def signing_key(*, session: Session, configured: str | None) -> SigningKey:
    """The key to sign with: SECRET_KEY (never stored) or the generated one, at the
    generation the database names (1 until the first rotation)."""
    generation = _generation(session)
    if configured:
        return SigningKey(configured.encode(), generation)
    value = app_state.get_or_create(
        session=session, key=GENERATED_KEY, make=secrets.token_urlsafe(48)
    )
    return SigningKey(value.encode(), generation)


def rotate(*, session: Session, configured: str | None) -> Rotation:
    """Move to the next key generation; without SECRET_KEY also replace the generated key
    (a leaked database then holds a key that signs nothing valid)."""
    generation = _generation(session) + 1
    app_state.set_value(session=session, key=GENERATION_KEY, value=str(generation))
    stored = app_state.get_value(session=session, key=GENERATED_KEY)
    if configured:
        # A key generated before SECRET_KEY was set would revive if SECRET_KEY were unset.
        app_state.delete_value(session=session, key=GENERATED_KEY)
        return Rotation(generation, replaced_generated_key=False, deleted_stale_key=bool(stored))
    app_state.set_value(session=session, key=GENERATED_KEY, value=secrets.token_urlsafe(48))
    return Rotation(generation, replaced_generated_key=True, deleted_stale_key=False)


def _generation(session: Session) -> int:
    stored = app_state.get_value(session=session, key=GENERATION_KEY)
    return int(stored) if stored and stored.isdigit() else 1
