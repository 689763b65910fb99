"""bolt's context for churnbot's listeners: a middleware set up in `bot/` puts the domain's
services in every request's context; listeners take them out with `services_of`."""

from __future__ import annotations

from slack_bolt.context.async_context import AsyncBoltContext

from surveys.services import Services

SERVICES = "services"


def services_of(context: AsyncBoltContext) -> Services:
    services = context.get(SERVICES)
    assert isinstance(services, Services), "the services middleware is not installed"
    return services
