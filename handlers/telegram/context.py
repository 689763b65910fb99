"""PTB's context for churnbot's handlers: `context.services` is the domain's services.

The application is built with `CONTEXT_TYPES` and given the services once
(`provide(application, services)`), so every handler reaches the domain through the
context PTB hands it, and nothing else.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from surveys.services import Services

_SERVICES = "services"


class ChurnContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context with the domain's services."""

    @property
    def services(self) -> Services:
        services = self.bot_data[_SERVICES]
        assert isinstance(services, Services), "provide(application, services) was not called"
        return services


CONTEXT_TYPES = ContextTypes(context=ChurnContext)


def provide(application: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
    """Give the application's handlers the services (once, before it starts)."""
    application.bot_data[_SERVICES] = services
