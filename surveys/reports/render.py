"""Rendering figures as Slack Block Kit messages and as plain text (Telegram, terminal).

Pure data in, blocks and strings out: no chat library is imported here beyond slack_sdk's
block models (through surveys.reports.blocks, which also escapes). Every Block Kit
message comes with a plain `text` too (notifications, screen readers, old clients).
"""

from __future__ import annotations

import re
from datetime import timedelta

from slack_sdk.models.blocks import Block

from surveys.reports import blocks
from surveys.reports.blocks import Rendered
from surveys.reports.figures import Figures, ReasonFigure
from surveys.reports.periods import week_label
from surveys.reports.text import Quote
from surveys.vocabulary import Sentiment, category_label

__all__ = ["Rendered", "category_label", "money", "plural"]

SENTIMENT_MARKS: dict[str, str] = {
    Sentiment.NEGATIVE: "neg",
    Sentiment.NEUTRAL: "neu",
    Sentiment.POSITIVE: "pos",
}
TOP_REASONS = 5
# Revenue figures carry no currency of their own; every amount is shown in this one.
CURRENCY = "USD"
_WEEK_LABEL = re.compile(r"\d{4}-W\d{2}")
_DAYS_LABEL = re.compile(r"\d+d")


def money(value: float) -> str:
    """Every amount, everywhere, one way: `1,148.00 USD`."""
    return f"{value:,.2f} {CURRENCY}"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 customer`, `2 customers` (`many` for irregular plurals)."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def compared_with(figures: Figures) -> str:
    """The period a figure is compared with, as a person would say it."""
    period, previous = figures.period, figures.previous
    if _WEEK_LABEL.fullmatch(period.label):
        return f"the week before ({week_label(previous.start)})"
    days = round(period.length / timedelta(days=1))
    if _DAYS_LABEL.fullmatch(period.label):
        return f"the previous {plural(days, 'day')}"
    last = previous.end - timedelta(seconds=1)
    return f"the previous {plural(days, 'day')} ({previous.start:%Y-%m-%d} to {last:%Y-%m-%d})"


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
    """A quote as a Slack mrkdwn quote (escaped) or as plain text."""
    if markdown:
        return blocks.quote(quote.text)
    return f'  "{blocks.clip(" ".join(quote.text.split()), 280)}"'


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
        *save_headline(figures),
        *recovery_headline(figures),
    ]


def save_headline(figures: Figures) -> list[tuple[str, str]]:
    """The save rate and the revenue saved, when exit surveys made offers in the period."""
    saves = figures.saves
    if saves is None or not saves.offered:
        return []
    rate = f"{saves.save_rate:.1f}%" if saves.save_rate is not None else "n/a"
    per_month = "; ".join(
        f"{month.month}: {month.accepted}/{month.offered}, {money(month.revenue_saved)}"
        for month in saves.months
    )
    value = (
        f"{rate} ({saves.accepted} of {plural(saves.offered, 'offer')} accepted), "
        f"{money(saves.revenue_saved)} a month saved"
    )
    if len(saves.months) > 1:
        value += f" ({per_month})"
    return [("Save rate", value)]


def recovery_headline(figures: Figures) -> list[tuple[str, str]]:
    """Involuntary churn recovered, when a payment failed or recovered in the period."""
    recoveries = figures.recoveries
    if recoveries is None or not recoveries.any:
        return []
    return [
        (
            "Recovered",
            f"{plural(recoveries.recovered, 'customer')} after a failed payment "
            f"({recoveries.failed} failed in the period), "
            f"{money(recoveries.revenue_recovered)} a month",
        )
    ]


def health_line(figures: Figures) -> str:
    health = figures.health
    parts = [
        f"{plural(health.invitations_sent, 'survey')} sent",
        f"response rate {health.response_rate.display()}",
        f"CSAT {health.csat_average.display()} ({plural(health.csat_count, 'answer')})",
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
        f"{title}: {plural(customers.lost, 'customer')} lost "
        f"(churn {customers.churn_rate.display()}, "
        f"revenue churn {customers.revenue_churn.display()}); top reasons: {reasons}; "
        f"{plural(figures.health.at_risk_count, 'customer')} at risk."
        + (f" {needing_review(figures.needs_review)}." if figures.needs_review else "")
    )


def needing_review(count: int) -> str:
    """`1 label needs review`, `3 labels need review`."""
    return f"{plural(count, 'label')} {'needs' if count == 1 else 'need'} review"


def summary_blocks(figures: Figures, *, title: str | None = None) -> Rendered:
    """The weekly summary: headline, top reasons with trend and quotes, emerging, health."""
    title = title or f"Churn summary · {figures.period.label}"
    period = figures.period
    span = f"{period.start:%a %d %b} – {(period.end - timedelta(seconds=1)):%a %d %b %Y} (UTC)"
    parts: list[Block] = [blocks.header(title), blocks.context(span)]
    parts.append(blocks.fields(*headline(figures)))
    parts.append(blocks.divider())
    top = [reason for reason in figures.reasons if reason.count][:TOP_REASONS]
    if top:
        parts.append(
            blocks.section(
                f"*Top reasons* ({plural(figures.answered_exits, 'exit survey answer')}, "
                f"vs {compared_with(figures)})"
                + (
                    f"\n{needing_review(figures.needs_review)}"
                    " (the model was unsure): check them with `/churn relabel`"
                    if figures.needs_review
                    else ""
                )
            )
        )
        for reason in top:
            lines = [reason_line(reason)]
            lines += [quote_line(quote) for quote in reason.quotes]
            parts.append(blocks.section("\n".join(lines)))
    else:
        parts.append(blocks.section("*Top reasons*\nNo exit survey answers in this period."))
    if figures.emerging:
        lines = ["*Possible new reasons* (answers labelled _other_ that say the same)"]
        for group in figures.emerging:
            lines.append(f"• “{blocks.escape(group.label)}”: {plural(group.count, 'answer')}")
            lines += [quote_line(quote) for quote in group.quotes[:2]]
        parts.append(blocks.section("\n".join(lines)))
    parts.append(blocks.divider())
    parts.append(blocks.section(f"*Survey health*\n{health_line(figures)}"))
    if figures.health.at_risk:
        names = ", ".join(
            f"{row.external_id} ({row.question.upper()} {row.score})"
            for row in figures.health.at_risk[:5]
        )
        parts.append(
            blocks.context(
                f"At risk, most recent first: {blocks.escape(names, blocks.SECTION_LIMIT)}"
            )
        )
    return blocks.message(
        blocks.escape(summary_text(figures, title), blocks.MESSAGE_LIMIT), *parts
    )


def stats_blocks(figures: Figures, *, formulas: bool = True) -> Rendered:
    """Headline figures of a period, with their formulas."""
    title = f"Churn figures · {figures.period.label}"
    parts: list[Block] = [blocks.header(title), blocks.fields(*headline(figures))]
    if formulas:
        parts.append(blocks.context("\n".join(figures.customers.formulas())))
    parts.append(blocks.section(f"*Survey health*\n{health_line(figures)}"))
    return blocks.message(blocks.escape(stats_text(figures), blocks.MESSAGE_LIMIT), *parts)


def reasons_blocks(figures: Figures) -> Rendered:
    title = f"Churn reasons · {figures.period.label}"
    lines = [reason_line(reason) for reason in figures.reasons]
    body = "\n".join(lines) or "No exit survey answers in this period."
    return blocks.message(
        blocks.escape(reasons_text(figures), blocks.MESSAGE_LIMIT),
        blocks.header(title),
        blocks.section(body),
        blocks.context(
            f"Compared with {compared_with(figures)}; {plural(figures.answered_exits, 'answer')}."
        ),
    )


def quotes_blocks(category: str, figures: Figures, quotes: list[Quote]) -> Rendered:
    title = f"Quotes · {category_label(category)} · {figures.period.label}"
    if not quotes:
        return blocks.message(
            f"{title}: no quotes.", blocks.header(title), blocks.section("No quotes.")
        )
    body = "\n".join(quote_line(quote) + f"  (answer {quote.answer_id})" for quote in quotes)
    text = "\n".join([title] + [quote_line(q, markdown=False) for q in quotes])
    return blocks.message(
        blocks.escape(text, blocks.MESSAGE_LIMIT), blocks.header(title), blocks.section(body)
    )


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
    lines = [f"Churn reasons · {figures.period.label} (vs {compared_with(figures)})"]
    reasons = [reason_line(reason, markdown=False) for reason in figures.reasons]
    lines += reasons or ["No exit survey answers in this period."]
    for group in figures.emerging:
        lines.append(f"Possible new reason “{group.label}”: {plural(group.count, 'answer')}")
    return "\n".join(lines)
