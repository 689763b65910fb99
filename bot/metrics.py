"""Prometheus metrics: counters kept by this process, gauges read from the database.

The registry belongs to one application instance (built at start-up, in `Deps`), never
to the module, so tests and several apps in one process do not share counts.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from storage.models import Answer, SurveyInvitation


class Metrics:
    def __init__(self, db: Engine) -> None:
        self.registry = CollectorRegistry()
        self.events_received = Counter(
            "churnbot_events_received",
            "Events accepted by the events API or CLI",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.sends = Counter(
            "churnbot_sends", "Survey messages sent", ["kind"], registry=self.registry
        )
        self.send_failures = Counter(
            "churnbot_send_failures",
            "Survey messages that could not be sent",
            ["reason"],
            registry=self.registry,
        )
        self.handler_errors = Counter(
            "churnbot_handler_errors",
            "Updates whose handler raised",
            ["platform"],
            registry=self.registry,
        )
        self.registry.register(_DatabaseGauges(db))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseGauges(Collector):
    """Invitations by status and answers stored: shared truth across all instances."""

    def __init__(self, db: Engine) -> None:
        self._db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        invitations = GaugeMetricFamily(
            "churnbot_invitations", "Survey invitations by status", labels=["status"]
        )
        answers = GaugeMetricFamily("churnbot_answers", "Answers stored")
        with Session(self._db) as session:
            rows = session.exec(
                select(SurveyInvitation.status, func.count()).group_by(SurveyInvitation.status)
            ).all()
            for status, count in rows:
                invitations.add_metric([str(status)], count)
            answers.add_metric([], session.exec(select(func.count()).select_from(Answer)).one())
        yield invitations
        yield answers
