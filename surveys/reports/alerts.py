"""Real-time alerts: a completed exit survey, or a detractor (CSAT at most 2).

Each alert names the customer, reason, sentiment, quote and revenue, and carries a select
menu to correct the category (its block_id names the answer). Built as Block Kit dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from storage.models import Answer, Customer, Event, InvitationStatus, SurveyInvitation
from storage.queries import classification as classification_queries
from storage.queries import figures as queries
from surveys.reports.figures import effective_labels
from surveys.reports.render import CATEGORY_LABELS, Rendered, category_label, money
from surveys.reports.text import scrub

RELABEL_ACTION = "churnbot_relabel"
RELABEL_BLOCK_PREFIX = "relabel:"
DETRACTOR_AT_MOST = queries.LOW_CSAT


@dataclass(frozen=True)
class Alert:
    kind: str  # "exit" or "detractor"
    answer_id: int | None  # the answer the select menu corrects
    rendered: Rendered


def relabel_block(answer_id: int, current: str | None) -> dict[str, Any]:
    options = [
        {"text": {"type": "plain_text", "text": label[:75]}, "value": key}
        for key, label in CATEGORY_LABELS.items()
    ]
    select_menu: dict[str, Any] = {
        "type": "static_select",
        "action_id": RELABEL_ACTION,
        "placeholder": {"type": "plain_text", "text": "Correct the category"},
        "options": options,
    }
    if current in CATEGORY_LABELS:
        select_menu["initial_option"] = next(o for o in options if o["value"] == current)
    return {
        "type": "section",
        "block_id": f"{RELABEL_BLOCK_PREFIX}{answer_id}",
        "text": {"type": "mrkdwn", "text": "Wrong category? Correct it:"},
        "accessory": select_menu,
    }


def parse_relabel_block(block_id: str) -> int | None:
    """The answer id a relabel select belongs to; None for anything else (forged ids)."""
    if not block_id.startswith(RELABEL_BLOCK_PREFIX):
        return None
    raw = block_id.removeprefix(RELABEL_BLOCK_PREFIX)
    return int(raw) if raw.isdigit() else None


def alert_for(session: Session, invitation_id: int) -> Alert | None:
    """The alert a completed invitation deserves, or None (not completed, nothing notable)."""
    invitation = session.get(SurveyInvitation, invitation_id)
    if invitation is None or invitation.status != InvitationStatus.COMPLETED:
        return None
    customer = session.get(Customer, invitation.customer_id)
    assert customer is not None
    who = f"{customer.external_id}" + (f" ({customer.name})" if customer.name else "")
    if invitation.survey_key == "exit":
        return _exit_alert(session, invitation, customer, who)
    return _detractor_alert(session, invitation, customer, who)


def _exit_alert(
    session: Session, invitation: SurveyInvitation, customer: Customer, who: str
) -> Alert | None:
    rows = queries.reason_rows(session=session, start=None, end=None, invitation_id=invitation.id)
    if not rows:
        return None
    row = rows[0]
    ids = [i for i in (row.answer_id, row.details_id) if i is not None]
    (labelled,) = effective_labels(rows, queries.corrections_of(session=session, answer_ids=ids))
    quote = scrub((row.details_text or row.text or "").strip(), names=[customer.name])
    revenue = f"{money(row.revenue)}/month" if row.revenue is not None else "unknown"
    lines = [
        f":wave: *Exit survey completed* by {who}",
        f"*Reason:* {category_label(labelled.category)} · *Sentiment:* {labelled.sentiment}"
        f" · *Revenue lost:* {revenue}",
    ]
    if quote:
        lines.append(f"> _{quote[:500]}_")
    text = (
        f"Exit survey completed by {customer.external_id}: {category_label(labelled.category)}, "
        f"{labelled.sentiment}, revenue {revenue}"
    )
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        relabel_block(row.answer_id, labelled.category),
    ]
    return Alert("exit", row.answer_id, Rendered(text, blocks))


def _detractor_alert(
    session: Session, invitation: SurveyInvitation, customer: Customer, who: str
) -> Alert | None:
    answers = list(session.exec(select(Answer).where(Answer.invitation_id == invitation.id)))
    scores = [a for a in answers if a.question_key == "csat" and a.numeric_value is not None]
    if not scores or scores[0].numeric_value > DETRACTOR_AT_MOST:  # type: ignore[operator]
        return None
    score = scores[0].numeric_value
    comment = next((a for a in answers if a.text and a.text.strip()), None)
    label = None
    if comment is not None:
        label = classification_queries.effective_label(session=session, answer_id=comment.id)  # type: ignore[arg-type]
    revenue = (
        f"{money(customer.monthly_revenue)}/month"
        if customer.monthly_revenue is not None
        else "unknown"
    )
    reason = category_label(label.category) if label else "not classified"
    sentiment = (label.sentiment if label else None) or "unknown"
    context = ""
    if invitation.event_id is not None:
        event = session.get(Event, invitation.event_id)
        if event is not None and event.data.get("reference"):
            context = f" after {event.data['reference']}"
    lines = [
        f":warning: *Detractor*: {who} gave CSAT {score}/5{context}",
        f"*Reason:* {reason} · *Sentiment:* {sentiment} · *Revenue:* {revenue}",
    ]
    if comment is not None:
        lines.append(f"> _{scrub(comment.text or '', names=[customer.name])[:500]}_")
    text = f"Detractor: {customer.external_id} gave CSAT {score}/5 ({reason}, {sentiment})"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
    ]
    if comment is not None:
        blocks.append(relabel_block(comment.id, label.category if label else None))  # type: ignore[arg-type]
    return Alert("detractor", comment.id if comment else None, Rendered(text, blocks))
