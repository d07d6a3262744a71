"""What the api handler loads late, so that the cold start that matters (staff
posting incident updates) never pays for the pages (Jinja2) nor the webhook
and email machinery (services, stores, their models): modules behind `Lazy`
proxies, and the services of `Services` built by the first request of a
route that uses them."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from status_fanout.incidents.service import StatusService
from status_fanout.incidents.store import IncidentStore
from status_fanout.settings import Settings

if TYPE_CHECKING:
    from status_fanout.email.subscriptions import SubscriptionService
    from status_fanout.incidents.templates import TemplateService
    from status_fanout.maintenance.service import MaintenanceService
    from status_fanout.webhooks.service import WebhookService


class Lazy:
    """A module imported on its first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


class Services:
    """What the routes of one container share: its settings, the table and the
    incident service, built at cold start; the webhook and subscription
    services, built by the first request that needs them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = IncidentStore(settings.table_name)
        self.incidents = StatusService(self.store)

    @functools.cached_property
    def webhooks(self) -> WebhookService:
        from status_fanout.webhooks.service import WebhookService

        return WebhookService(self.store, self.settings)

    @functools.cached_property
    def maintenance(self) -> MaintenanceService:
        from status_fanout.maintenance.service import MaintenanceService

        return MaintenanceService(self.store, self.settings)

    @functools.cached_property
    def subscriptions(self) -> SubscriptionService:
        from status_fanout.email.subscriptions import SubscriptionService

        return SubscriptionService(self.store, self.settings)

    @functools.cached_property
    def templates(self) -> TemplateService:
        from status_fanout.incidents.templates import TemplateService

        return TemplateService(self.store)
