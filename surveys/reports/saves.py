"""Save figures: how many win-back offers were accepted, and the revenue they kept.

Save rate = offers accepted / exit surveys that made an offer (one that can be accepted).
A save is an accepted offer that was applied in billing or handed to the team to apply; its
revenue is the customer's monthly revenue when they accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage.queries.offers import SaveMonth, save_months
from storage.queries.payments import payment_recoveries


@dataclass(frozen=True)
class SaveFigures:
    offered: int
    accepted: int
    saved: int
    revenue_saved: float
    months: tuple[SaveMonth, ...]

    @property
    def save_rate(self) -> float | None:
        """Percent of offers accepted; None without offers."""
        return self.accepted / self.offered * 100.0 if self.offered else None

    def as_dict(self) -> dict[str, object]:
        return {
            "offers_made": self.offered,
            "offers_accepted": self.accepted,
            "saves": self.saved,
            "save_rate": round(self.save_rate, 1) if self.save_rate is not None else None,
            "revenue_saved_monthly": self.revenue_saved,
            "months": [
                {
                    "month": month.month,
                    "offers_made": month.offered,
                    "offers_accepted": month.accepted,
                    "revenue_saved_monthly": month.revenue_saved,
                }
                for month in self.months
            ],
        }


def save_figures(*, session: Session, start: datetime, end: datetime) -> SaveFigures:
    """The save figures of offers made in [start, end)."""
    months = tuple(save_months(session=session, since=start, until=end))
    return SaveFigures(
        offered=sum(month.offered for month in months),
        accepted=sum(month.accepted for month in months),
        saved=sum(month.saved for month in months),
        revenue_saved=round(sum(month.revenue_saved for month in months), 2),
        months=months,
    )


@dataclass(frozen=True)
class RecoveryFigures:
    """Involuntary churn recovered: customers whose payment failed and who then paid."""

    failed: int
    recovered: int
    revenue_recovered: float

    @property
    def any(self) -> bool:
        return bool(self.failed or self.recovered)

    def as_dict(self) -> dict[str, object]:
        return {
            "payments_failed": self.failed,
            "payments_recovered": self.recovered,
            "revenue_recovered_monthly": self.revenue_recovered,
        }


def recovery_figures(*, session: Session, start: datetime, end: datetime) -> RecoveryFigures:
    """Customers whose payment failed in [start, end), and those recovered in it."""
    counts = payment_recoveries(session=session, start=start, end=end)
    return RecoveryFigures(counts.failed, counts.recovered, counts.revenue_recovered)
