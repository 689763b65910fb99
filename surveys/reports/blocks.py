"""Slack Block Kit building and the one escaping path for text that reaches Slack.

Every Slack message churnbot sends is built here, with slack_sdk's block models, so there
is one place that knows Slack's limits and one `escape` for customer-supplied text.
In mrkdwn (and in a message's top-level `text`), `<!channel>`, `<@U…>` and `<url|label>`
are live control sequences: a customer's answer, name or id must never carry them, so any
string that did not come from churnbot's own code goes through `escape` (which also cuts
it to a size) or `quote`/`echo` (built on it). The mrkdwn builders cut what they are given
to Slack's limits without splitting an entity or a `<…>` sequence.

Why the domain builds Slack blocks: a report's or an alert's layout is part of what it
says, and `slack_sdk.models` is plain data (no I/O, no client, no bolt). The layer rule is
that the domain knows no chat *platform* (telegram, slack_bolt: import-linter forbids
them); sending stays in handlers/slack, and the plain-text forms serve Telegram and the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

SECTION_LIMIT = 3000  # characters of a section's (or context element's) text
FIELD_LIMIT = 2000  # characters of one section field
HEADER_LIMIT = 150
OPTION_LIMIT = 75  # characters of a select option's label
ECHO_LIMIT = 100  # characters of a manager's argument repeated in an answer
VALUE_LIMIT = 200  # characters of one outside value (a name, an id, a plan, a reference)
MESSAGE_LIMIT = 40_000  # characters of a message's top-level text (Slack cuts beyond)
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
# What a cut may leave open at the end of mrkdwn: an entity or a `<…>` sequence.
_OPEN_AT_END = re.compile(r"&#?\w*$|<[^<>]*$")


@dataclass(frozen=True)
class Rendered:
    """A message ready for any surface: Block Kit blocks plus the plain text.

    For Slack, `text` is the notification and screen-reader fallback; Slack formats it as
    mrkdwn too, so it is escaped like the blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def escape(text: str, limit: int = VALUE_LIMIT) -> str:
    """Outside text made inert in Slack mrkdwn and cut to `limit` characters (an ellipsis
    marks a cut): `&`, `<`, `>` become entities (Slack's own rule). The cut comes first,
    so it never splits an entity."""
    return clip(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut (plain text, not mrkdwn)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_mrkdwn(text: str, limit: int) -> str:
    """Built mrkdwn cut to `limit` characters without leaving an entity or a `<…>`
    sequence open at the cut."""
    if len(text) <= limit:
        return text
    return _OPEN_AT_END.sub("", text[: limit - 1]) + "…"


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """A manager's argument as repeated in an answer: on one line, cut, escaped, quoted."""
    return f"'{escape(' '.join(text.split()), limit)}'"


def quote(text: str, limit: int = 280) -> str:
    """A customer's words as a mrkdwn quote line: one line, cut, escaped, in italics."""
    flat = " ".join(text.split())
    return f"> _{escape(flat, limit)}_" if flat else ""


def mention(user_id: str) -> str:
    """A Slack user mention for an id Slack gave us; anything else is shown escaped."""
    return f"<@{user_id}>" if _SLACK_USER.fullmatch(user_id) else escape(user_id)


def section(text: str, *, block_id: str | None = None, accessory: Any = None) -> SectionBlock:
    """A mrkdwn section; `text` must already be escaped where it carries outside text."""
    return SectionBlock(
        text=MarkdownTextObject(text=clip_mrkdwn(text, SECTION_LIMIT)),
        block_id=block_id,
        accessory=accessory,
    )


def fields(*pairs: tuple[str, str]) -> SectionBlock:
    """A section of `*name*\\nvalue` fields (Slack shows them in two columns)."""
    return SectionBlock(
        fields=[
            MarkdownTextObject(text=clip_mrkdwn(f"*{name}*\n{value}", FIELD_LIMIT))
            for name, value in pairs[:10]
        ]
    )


def context(text: str) -> ContextBlock:
    """A context line of mrkdwn; `text` must already be escaped where it carries outside text."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip_mrkdwn(text, SECTION_LIMIT))])


def header(text: str) -> HeaderBlock:
    """A header: plain text, so nothing in it is ever a control sequence."""
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_LIMIT)))


def divider() -> DividerBlock:
    return DividerBlock()


def select(
    *, action_id: str, placeholder: str, options: dict[str, str], initial: str | None = None
) -> StaticSelectElement:
    """A static select over `options` (value → label), showing `initial` when it is one."""
    choices = [
        Option(value=value, text=PlainTextObject(text=clip(label, OPTION_LIMIT)))
        for value, label in options.items()
    ]
    chosen = next((option for option in choices if option.value == initial), None)
    return StaticSelectElement(
        action_id=action_id,
        placeholder=PlainTextObject(text=placeholder),
        options=choices,
        initial_option=chosen,
    )


def message(text: str, *blocks: Block) -> Rendered:
    """The Rendered message of these blocks, with `text` (already escaped) as fallback."""
    return Rendered(clip_mrkdwn(text, MESSAGE_LIMIT), [block.to_dict() for block in blocks])


def plain(text: str) -> Rendered:
    """A one-section answer whose whole text is churnbot's own words plus escaped values."""
    return message(text, section(text))
