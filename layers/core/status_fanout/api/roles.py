"""Which role each staff route needs (SPEC §12, docs/staff-keys.md): one line
per (method, rule), the rule as the route registers it. The staff gate
(http_errors) refuses a key below the route's role with 403, and refuses
every key on a staff route missing here (fail closed); a unit test fails
when a route of the Api has no line.

Roles rank viewer < responder < admin: each may do what those below it may.
Reads are for every role, but the ones that show keys, the audit log and
subscribers' addresses (personal data), which are the admins'.
"""

from __future__ import annotations

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
RANK = {VIEWER: 0, RESPONDER: 1, ADMIN: 2}

ROLES: dict[tuple[str, str], str] = {
    # components
    ("GET", "/v1/components"): VIEWER,
    ("PUT", "/v1/components/<component_id>"): RESPONDER,
    ("PATCH", "/v1/components/<component_id>"): RESPONDER,
    # incidents
    ("GET", "/v1/incidents"): VIEWER,
    ("POST", "/v1/incidents"): RESPONDER,
    ("GET", "/v1/incidents/<incident_id>"): VIEWER,
    ("POST", "/v1/incidents/<incident_id>/updates"): RESPONDER,
    ("PATCH", "/v1/incidents/<incident_id>/updates/<update_id>"): RESPONDER,
    ("PUT", "/v1/incidents/<incident_id>/postmortem"): RESPONDER,
    # maintenances
    ("GET", "/v1/maintenances"): VIEWER,
    ("POST", "/v1/maintenances"): RESPONDER,
    ("GET", "/v1/maintenances/<maintenance_id>"): VIEWER,
    ("POST", "/v1/maintenances/<maintenance_id>/updates"): RESPONDER,
    ("PATCH", "/v1/maintenances/<maintenance_id>"): RESPONDER,
    ("POST", "/v1/maintenances/<maintenance_id>/cancel"): RESPONDER,
    # incident templates: writing one shapes what responders post
    ("PUT", "/v1/templates/<template_id>"): RESPONDER,
    ("GET", "/v1/templates"): VIEWER,
    ("GET", "/v1/templates/<template_id>"): VIEWER,
    ("DELETE", "/v1/templates/<template_id>"): RESPONDER,
    # the audience preview: how many an update would reach per component (docs/staff-keys.md)
    ("POST", "/v1/audience"): RESPONDER,
    # webhooks (chat URLs are masked in what they show)
    ("POST", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks"): VIEWER,
    ("GET", "/v1/webhooks/<webhook_id>"): VIEWER,
    ("PATCH", "/v1/webhooks/<webhook_id>"): ADMIN,
    ("DELETE", "/v1/webhooks/<webhook_id>"): ADMIN,
    ("POST", "/v1/webhooks/<webhook_id>/rotate-secret"): ADMIN,
    ("POST", "/v1/webhooks/<webhook_id>/test"): ADMIN,
    ("GET", "/v1/webhooks/<webhook_id>/deliveries"): VIEWER,
    ("POST", "/v1/webhooks/<webhook_id>/replay"): ADMIN,
    # email subscribers: their addresses are personal data
    ("GET", "/v1/subscribers"): ADMIN,
    ("DELETE", "/v1/subscribers/<subscriber_id>"): ADMIN,
    ("GET", "/v1/subscribers/export"): ADMIN,
    ("POST", "/v1/subscribers/import"): ADMIN,
    # staff keys and the audit log
    ("POST", "/v1/keys"): ADMIN,
    ("GET", "/v1/keys"): ADMIN,
    ("DELETE", "/v1/keys/<key_id>"): ADMIN,
    ("GET", "/v1/audit"): ADMIN,
}


def required_role(method: str, rule: str) -> str | None:
    """The least role the route needs; None: not in the table, so no key may call it."""
    return ROLES.get((method.upper(), rule))


def allows(role: str, needed: str) -> bool:
    return RANK.get(role, -1) >= RANK[needed]
