"""What the domain asks the chat layer to show: platform-neutral messages and buttons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Prompt:
    """One message to send; `invitation_id` set when it is a survey question to remember."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    invitation_id: int | None = None


@dataclass(frozen=True)
class Edit:
    """Replace the text and buttons of a message we sent earlier (no text: drop the
    buttons only)."""

    message_id: int
    text: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True)
class Reply:
    """The answer to one customer action: an optional toast, edits, then new messages."""

    toast: str | None = None
    edits: tuple[Edit, ...] = ()
    messages: tuple[Prompt, ...] = field(default_factory=tuple)
    completed: int | None = None  # the invitation this action completed, if any

    @classmethod
    def say(cls, text: str) -> Reply:
        return cls(messages=(Prompt(text),))
