"""Rendering figures as Slack Block Kit dicts and as plain text (Telegram, terminal).

Pure data in, dicts and strings out: no chat library is imported here. Every Block Kit
message comes with a plain `text` too (notifications, screen readers, old clients).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from surveys.reports.figures import Figures, ReasonFigure
from surveys.reports.text import Quote

CATEGORY_LABELS = {
    "price": "Price",
    "low_value": "Not worth it",
    "missing_features": "Missing features",
    "bugs_reliability": "Bugs / reliability",
    "poor_support": "Poor support",
    "felt_ignored": "Felt ignored",
    "competitor": "Switched to a competitor",
    "hard_to_use": "Hard to use",
    "no_longer_needed": "No longer needed",
    "billing_issue": "Billing issue",
    "other": "Other",
}
SENTIMENT_MARKS = {"negative": "neg", "neutral": "neu", "positive": "pos"}
TOP_REASONS = 5
SECTION_LIMIT = 2900  # Slack allows 3000 characters per section text


@dataclass(frozen=True)
class Rendered:
    """A message ready for any surface: Block Kit blocks plus the plain text."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category.replace("_", " ").capitalize())


def money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _fields(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in pairs],
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text)}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _change(reason: ReasonFigure) -> str:
    if reason.trend == "new":
        return "new"
    return f"{reason.trend} {reason.change:+d}"


def _sentiments(reason: ReasonFigure) -> str:
    parts = [
        f"{SENTIMENT_MARKS.get(name, name)} {count}"
        for name, count in sorted(reason.sentiments.items(), key=lambda item: -item[1])
    ]
    return ", ".join(parts)


def reason_line(reason: ReasonFigure, *, markdown: bool = True) -> str:
    name = category_label(reason.category)
    name = f"*{name}*" if markdown else name
    line = f"{name}: {reason.count} ({reason.share.display()}, {_change(reason)})"
    if reason.revenue_lost:
        line += f", {money(reason.revenue_lost)} revenue lost"
    if reason.sentiments:
        line += f", {_sentiments(reason)}"
    return line


def quote_line(quote: Quote, *, markdown: bool = True) -> str:
    text = " ".join(quote.text.split())
    if len(text) > 280:
        text = text[:279] + "…"
    return f"> _{_escape(text)}_" if markdown else f'  "{text}"'


def headline(figures: Figures) -> list[tuple[str, str]]:
    customers = figures.customers
    return [
        ("Customers", f"{customers.at_start} → {customers.at_end}"),
        ("New", str(customers.new)),
        (
            "Lost",
            f"{customers.lost} ({customers.lost_voluntary} voluntary, "
            f"{customers.lost_involuntary} involuntary)",
        ),
        ("Churn rate", customers.churn_rate.display()),
        ("Retention", customers.retention.display()),
        (
            "Revenue churn",
            f"{customers.revenue_churn.display()} ({money(customers.revenue_lost)} lost)",
        ),
    ]


def health_line(figures: Figures) -> str:
    health = figures.health
    parts = [
        f"{health.invitations_sent} surveys sent",
        f"response rate {health.response_rate.display()}",
        f"CSAT {health.csat_average.display()} ({health.csat_count} answers)",
    ]
    if health.nps:
        parts.append(f"NPS {health.nps_score.display()}")
    parts.append(
        f"{health.churned_after_low_score} of {health.churned} churned had given a low score"
    )
    parts.append(f"{health.at_risk_count} at risk")
    return " · ".join(parts)


def summary_text(figures: Figures, title: str) -> str:
    """The one-paragraph fallback of the Block Kit summary."""
    customers = figures.customers
    top = [reason for reason in figures.reasons if reason.count][:3]
    reasons = ", ".join(f"{category_label(r.category)} {r.count}" for r in top) or "none"
    return (
        f"{title}: {customers.lost} customers lost (churn {customers.churn_rate.display()}, "
        f"revenue churn {customers.revenue_churn.display()}); top reasons: {reasons}; "
        f"{figures.health.at_risk_count} customers at risk."
    )


def summary_blocks(figures: Figures, *, title: str | None = None) -> Rendered:
    """The weekly summary: headline, top reasons with trend and quotes, emerging, health."""
    title = title or f"Churn summary · {figures.period.label}"
    period = figures.period
    span = f"{period.start:%a %d %b} – {(period.end - timedelta(seconds=1)):%a %d %b %Y} (UTC)"
    blocks: list[dict[str, Any]] = [_header(title), _context(span)]
    blocks.append(_fields(*headline(figures)))
    blocks.append({"type": "divider"})
    top = [reason for reason in figures.reasons if reason.count][:TOP_REASONS]
    if top:
        blocks.append(
            _section(
                f"*Top reasons* ({figures.answered_exits} exit survey answers, "
                f"vs {figures.previous.label})"
            )
        )
        for reason in top:
            lines = [reason_line(reason)]
            lines += [quote_line(quote) for quote in reason.quotes]
            blocks.append(_section("\n".join(lines)))
    else:
        blocks.append(_section("*Top reasons*\nNo exit survey answers in this period."))
    if figures.emerging:
        lines = ["*Possible new reasons* (answers labelled _other_ that say the same)"]
        for group in figures.emerging:
            lines.append(f"• “{_escape(group.label)}”: {group.count} answers")
            lines += [quote_line(quote) for quote in group.quotes[:2]]
        blocks.append(_section("\n".join(lines)))
    blocks.append({"type": "divider"})
    blocks.append(_section(f"*Survey health*\n{health_line(figures)}"))
    if figures.health.at_risk:
        names = ", ".join(
            f"{row.external_id} ({row.question.upper()} {row.score})"
            for row in figures.health.at_risk[:5]
        )
        blocks.append(_context(f"At risk, most recent first: {_escape(names)}"))
    return Rendered(summary_text(figures, title), blocks)


def stats_blocks(figures: Figures, *, formulas: bool = True) -> Rendered:
    """Headline figures of a period, with their formulas."""
    title = f"Churn figures · {figures.period.label}"
    blocks = [_header(title), _fields(*headline(figures))]
    if formulas:
        blocks.append(_context("\n".join(figures.customers.formulas())))
    blocks.append(_section(f"*Survey health*\n{health_line(figures)}"))
    return Rendered(stats_text(figures), blocks)


def reasons_blocks(figures: Figures) -> Rendered:
    title = f"Churn reasons · {figures.period.label}"
    lines = [reason_line(reason) for reason in figures.reasons]
    body = "\n".join(lines) or "No exit survey answers in this period."
    blocks = [
        _header(title),
        _section(body),
        _context(f"Compared with {figures.previous.label}; {figures.answered_exits} answers."),
    ]
    return Rendered(reasons_text(figures), blocks)


def quotes_blocks(category: str, figures: Figures, quotes: list[Quote]) -> Rendered:
    title = f"Quotes · {category_label(category)} · {figures.period.label}"
    if not quotes:
        return Rendered(f"{title}: no quotes.", [_header(title), _section("No quotes.")])
    body = "\n".join(quote_line(quote) + f"  (answer {quote.answer_id})" for quote in quotes)
    plain = "\n".join([title] + [quote_line(q, markdown=False) for q in quotes])
    return Rendered(plain, [_header(title), _section(body)])


def stats_text(figures: Figures) -> str:
    """Plain text of the headline figures (Telegram, terminal)."""
    lines = [f"Churn figures · {figures.period.label}"]
    lines += [f"{name}: {value}" for name, value in headline(figures)]
    lines.append("")
    lines += figures.customers.formulas()
    lines.append("")
    lines.append(health_line(figures))
    return "\n".join(lines)


def reasons_text(figures: Figures) -> str:
    lines = [f"Churn reasons · {figures.period.label} (vs {figures.previous.label})"]
    reasons = [reason_line(reason, markdown=False) for reason in figures.reasons]
    lines += reasons or ["No exit survey answers in this period."]
    for group in figures.emerging:
        lines.append(f"Possible new reason “{group.label}”: {group.count} answers")
    return "\n".join(lines)


def summary_plain(figures: Figures) -> str:
    """The whole weekly summary as plain text (terminal, logs)."""
    lines = [stats_text(figures), "", reasons_text(figures)]
    for reason in figures.reasons:
        if reason.quotes:
            lines.append(f"{category_label(reason.category)}:")
            lines += [quote_line(quote, markdown=False) for quote in reason.quotes]
    return "\n".join(lines)
