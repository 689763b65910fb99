"""Real-time alerts: every finished churn-reason survey, and every detractor.

Which surveys these are comes from the definitions' roles (`SurveyRoles`): a survey with a
`reason` question gets an exit alert; one with a `csat` or `nps` question gets a detractor
alert when its score is at most that question's `detractor_at_most`.

A survey finished with Skip is alerted like one with text, and one that expired
half-answered is alerted with what was answered. Each alert names the customer, reason,
sentiment, quote and revenue, says who corrected the category if anyone did, and carries
a select menu to correct it (its block_id names the answer). Whether an invitation was
alerted is kept in slack_alert (storage.queries.alerts), so it is posted once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import SectionBlock
from sqlmodel import Session, col, select

from storage.models import (
    Answer,
    Customer,
    Event,
    InvitationStatus,
    LabelCorrection,
    SlackAlertStatus,
    SurveyInvitation,
)
from storage.queries import alerts as alert_queries
from storage.queries import classification as classification_queries
from storage.queries import figures as queries
from surveys.definition import ReasonRole, SurveyRoles
from surveys.labels import effective_label
from surveys.reports import blocks
from surveys.reports.blocks import Rendered
from surveys.reports.figures import effective_labels
from surveys.reports.render import money
from surveys.reports.text import scrub
from surveys.vocabulary import Category, category_label

RELABEL_ACTION = "churnbot_relabel"
RELABEL_BLOCK_PREFIX = "relabel:"
# After a label the model was unsure of (below its review threshold).
REVIEW_MARK = " (needs review)"
QUOTE_LIMIT = 500
SLACK_USER_PREFIX = "slack:"


class AlertKind(enum.StrEnum):
    EXIT = "exit"
    DETRACTOR = "detractor"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    answer_id: int | None  # the answer the select menu corrects
    rendered: Rendered


def relabel_block(answer_id: int, current: str | None) -> SectionBlock:
    """The section with the category menu, showing the category that counts now."""
    return blocks.section(
        "Wrong category? Correct it:",
        block_id=f"{RELABEL_BLOCK_PREFIX}{answer_id}",
        accessory=blocks.select(
            action_id=RELABEL_ACTION,
            placeholder="Correct the category",
            options={category.value: category.label for category in Category},
            initial=current,
        ),
    )


def parse_relabel_block(block_id: str) -> int | None:
    """The answer id a relabel select belongs to; None for anything else (forged ids)."""
    if not block_id.startswith(RELABEL_BLOCK_PREFIX):
        return None
    raw = block_id.removeprefix(RELABEL_BLOCK_PREFIX)
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def who_set(corrected_by: str) -> str:
    """Who corrected a label, as Slack shows it: a mention for a Slack user."""
    if corrected_by.startswith(SLACK_USER_PREFIX):
        return blocks.mention(corrected_by.removeprefix(SLACK_USER_PREFIX))
    return blocks.escape(corrected_by)


def alert_for(session: Session, invitation_id: int, roles: SurveyRoles) -> Alert | None:
    """The alert a finished or expired invitation deserves, or None (still open, or
    nothing notable was answered, or its survey has no reason or score role)."""
    invitation = session.get(SurveyInvitation, invitation_id)
    if invitation is None or invitation.status not in alert_queries.FINISHED:
        return None
    customer = session.get(Customer, invitation.customer_id)
    assert customer is not None
    who = blocks.escape(customer.external_id)
    if customer.name:
        who += f" ({blocks.escape(customer.name)})"
    reason = roles.reason_of(invitation.survey_key)
    if reason is not None:
        return _exit_alert(session, invitation, customer, who, reason)
    return _detractor_alert(session, invitation, customer, who, roles)


def _latest_correction(session: Session, answer_ids: list[int]) -> LabelCorrection | None:
    found = [
        correction
        for answer_id in answer_ids
        if (
            correction := classification_queries.latest_correction(
                session=session, answer_id=answer_id
            )
        )
        is not None
    ]
    return max(found, key=lambda c: (c.corrected_at, c.id or 0), default=None)


def _status_words(invitation: SurveyInvitation, finished: str) -> str:
    if invitation.status == InvitationStatus.EXPIRED:
        return "expired half-answered"
    return finished


def _reason_line(
    category: str | None, correction: LabelCorrection | None, *, needs_review: bool = False
) -> str:
    reason = category_label(category) if category else "not classified"
    if correction is not None:
        reason += f" (set by {who_set(correction.corrected_by)})"
    elif needs_review:
        reason += REVIEW_MARK
    return reason


def _exit_alert(
    session: Session,
    invitation: SurveyInvitation,
    customer: Customer,
    who: str,
    reason_role: ReasonRole,
) -> Alert | None:
    rows = queries.reason_rows(
        session=session,
        sources=[reason_role],
        start=None,
        end=None,
        invitation_id=invitation.id,
    )
    if not rows:
        return None
    row = rows[0]
    ids = [i for i in (row.answer_id, row.details_id) if i is not None]
    (labelled,) = effective_labels(rows, queries.corrections_of(session=session, answer_ids=ids))
    correction = _latest_correction(session, ids)
    quote = scrub((row.details_text or row.text or "").strip(), names=[customer.name])
    revenue = f"{money(row.revenue)}/month" if row.revenue is not None else "unknown"
    status = _status_words(invitation, "completed")
    reason = _reason_line(labelled.category, correction, needs_review=labelled.needs_review)
    lines = [
        f":wave: *Exit survey {status}* by {who}",
        f"*Reason:* {reason} · *Sentiment:* {labelled.sentiment} · *Revenue lost:* {revenue}",
    ]
    if quote:
        lines.append(blocks.quote(quote, QUOTE_LIMIT))
    ident = blocks.escape(customer.external_id)  # the notification names no person
    text = f"Exit survey {status} by {ident}: {reason}, {labelled.sentiment}, revenue {revenue}"
    return Alert(
        AlertKind.EXIT,
        row.answer_id,
        blocks.message(
            text,
            blocks.section("\n".join(lines)),
            relabel_block(row.answer_id, labelled.category),
        ),
    )


def _detractor_alert(
    session: Session,
    invitation: SurveyInvitation,
    customer: Customer,
    who: str,
    roles: SurveyRoles,
) -> Alert | None:
    answers = list(session.exec(select(Answer).where(col(Answer.invitation_id) == invitation.id)))
    low = next(
        (
            (question, answer.numeric_value)
            for question in roles.scores_of(invitation.survey_key)
            for answer in answers
            if answer.question_key == question.key
            and answer.numeric_value is not None
            and answer.numeric_value <= question.detractor_at_most
        ),
        None,
    )
    if low is None:
        return None
    question, score = low
    measure = f"{question.role.upper()} {score}/{question.scale_max}"
    comment = next((a for a in answers if a.text and a.text.strip()), None)
    label = correction = None
    if comment is not None:
        label = effective_label(session=session, answer_id=comment.id)  # type: ignore[arg-type]
        correction = _latest_correction(session, [comment.id])  # type: ignore[list-item]
    revenue = (
        f"{money(customer.monthly_revenue)}/month"
        if customer.monthly_revenue is not None
        else "unknown"
    )
    reason = _reason_line(
        label.category if label else None,
        correction,
        needs_review=label is not None and label.needs_review,
    )
    sentiment = (label.sentiment if label else None) or "unknown"
    context = ""
    if invitation.event_id is not None:
        event = session.get(Event, invitation.event_id)
        if event is not None and event.data.get("reference"):
            context = f" after {blocks.escape(str(event.data['reference']), 100)}"
    expired = " (survey expired half-answered)" if invitation.status == "expired" else ""
    lines = [
        f":warning: *Detractor*: {who} gave {measure}{context}{expired}",
        f"*Reason:* {reason} · *Sentiment:* {sentiment} · *Revenue:* {revenue}",
    ]
    if comment is not None:
        lines.append(blocks.quote(scrub(comment.text or "", names=[customer.name]), QUOTE_LIMIT))
    ident = blocks.escape(customer.external_id)  # the notification names no person
    text = f"Detractor: {ident} gave {measure} ({reason}, {sentiment})"
    parts = [blocks.section("\n".join(lines))]
    if comment is not None:
        parts.append(relabel_block(comment.id, label.category if label else None))  # type: ignore[arg-type]
    return Alert(
        AlertKind.DETRACTOR, comment.id if comment else None, blocks.message(text, *parts)
    )


def claim_alert(
    session: Session, invitation_id: int, roles: SurveyRoles, *, now: datetime
) -> Alert | None:
    """The alert to post now, claimed for this caller; None when there is nothing to post
    or another caller has it. An invitation that needs no alert is recorded as such."""
    if alert_queries.is_decided(session=session, invitation_id=invitation_id):
        return None
    invitation = session.get(SurveyInvitation, invitation_id)
    if invitation is None or invitation.status not in alert_queries.FINISHED:
        return None  # still open: decided when it finishes or expires
    alert = alert_for(session, invitation_id, roles)
    status = SlackAlertStatus.NONE if alert is None else SlackAlertStatus.SENDING
    kind = alert.kind if alert is not None else None
    owned = alert_queries.claim(
        session=session, invitation_id=invitation_id, status=status, kind=kind, now=now
    )
    return alert if owned else None


def invitation_of_answer(session: Session, answer_id: int) -> int | None:
    answer = session.get(Answer, answer_id)
    return answer.invitation_id if answer is not None else None
