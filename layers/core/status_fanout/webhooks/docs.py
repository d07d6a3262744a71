"""The page webhook receivers are pointed at: what a delivery holds, how to
verify it, and how an endpoint stops receiving them.

Served by the API at `GET /docs/webhooks` (public, no JavaScript, no
third-party assets). Statuspage-format bodies link here from
`meta.documentation`, and from `meta.unsubscribe` with the endpoint's id
(`?endpoint=<id>#unsubscribe`): an endpoint is registered by the page's
staff, so no link can remove it, but the page says who can and how.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from status_fanout.delivery.retry import MAX_VISIBILITY
from status_fanout.settings import Settings

PATH = "/docs/webhooks"
UNSUBSCRIBE_FRAGMENT = "unsubscribe"
HTML_TYPE = "text/html; charset=utf-8"
HEADERS = {
    "Cache-Control": "public, max-age=300",
    # Nothing to load and nothing to run: the page is text and markup only.
    "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Endpoint ids are lifecycle.new_id()s; anything else in the query is ignored.
ENDPOINT_ID = re.compile(r"^[a-z0-9]{12}$")


def documentation_url(base: str) -> str:
    """This page under `base`, the API's public URL (Settings.links_base)."""
    return f"{base}{PATH}"


def unsubscribe_url(base: str, endpoint_id: str) -> str:
    return f"{base}{PATH}?endpoint={quote(endpoint_id, safe='')}#{UNSUBSCRIBE_FRAGMENT}"


def duration(seconds: float) -> str:
    """5 s, 5 min, 2 h, 5 days: how the page says a delay."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{round(seconds / 60, 1):g} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600, 1):g} h"
    return f"{round(seconds / 86400, 1):g} days"


def page(settings: Settings, endpoint_id: str | None = None) -> str:
    """The whole page; `endpoint_id` (from the unsubscribe link) is named where it helps."""
    name = html.escape(settings.page.name)
    endpoint = endpoint_id if endpoint_id and ENDPOINT_ID.match(endpoint_id) else None
    this = f"<code>{endpoint}</code>" if endpoint else "<code>&lt;endpoint id&gt;</code>"
    named = (f"<p>This link was sent to webhook endpoint {this}. Give that id to {name}'s staff.</p>"
             if endpoint else "")
    delete = f"DELETE /v1/webhooks/{endpoint or '&lt;endpoint id&gt;'}"
    # The sender's own schedule (SQS holds each wait, at most 12 h).
    delays = [min(MAX_VISIBILITY, d) for d in settings.webhook.retry_delays]
    retries = ", ".join(duration(d) for d in delays[:-1]) + (" and " if len(delays) > 1 else "") + (
        duration(delays[-1]) if delays else "")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} status webhooks</title>
</head>
<body>
<header><p><a href="{html.escape(settings.page.url or '/', quote=True)}">{name} status</a></p></header>
<main>
<h1>{name} status webhooks</h1>
<p>{name}'s status page sends signed HTTP POSTs to webhook endpoints its staff registered:
one per incident update, postmortem or component status change that the endpoint asked for.
This page says what each delivery holds, how to check it came from us, and how an endpoint
stops receiving them.</p>

<section aria-labelledby="headers">
<h2 id="headers">Headers and signatures</h2>
<p>Every delivery follows <a href="https://www.standardwebhooks.com/">Standard Webhooks</a> v1:</p>
<dl>
<dt><code>webhook-id</code></dt><dd>the delivery's id, the same on every retry and replay: deduplicate on it.</dd>
<dt><code>webhook-timestamp</code></dt><dd>seconds since the epoch when this attempt was signed.</dd>
<dt><code>webhook-signature</code></dt><dd><code>v1,&lt;base64 HMAC-SHA256 of id.timestamp.body&gt;</code>,
keyed with the endpoint's secret (<code>whsec_</code> + base64); during a secret rotation two
signatures, space-separated, one per live secret.</dd>
</dl>
<p>Any Standard Webhooks library verifies a delivery with the secret, for example in Python:
<code>standardwebhooks.Webhook(secret).verify(body, headers)</code>. The body is
<code>application/json</code>; the user agent is <code>status-fanout-webhooks/1</code>.</p>
</section>

<section aria-labelledby="standard">
<h2 id="standard">Body: the standard format</h2>
<pre>{{"type": "incident.updated", "timestamp": "2018-08-30T22:25:00.000Z",
 "data": {{"page": {{...}}, "incident": {{...}}, "update": {{...}}, "sequence": 2}}}}</pre>
<p><code>type</code> is one of <code>incident.created</code>, <code>incident.updated</code>,
<code>incident.postmortem</code>, <code>component.updated</code>, <code>webhook.test</code>, and
for a scheduled maintenance <code>maintenance.scheduled</code>, <code>maintenance.reminder</code>,
<code>maintenance.started</code>, <code>maintenance.updated</code>,
<code>maintenance.rescheduled</code>, <code>maintenance.completed</code> and
<code>maintenance.cancelled</code>.
For an incident event, <code>data.incident</code> is the Statuspage v2 incident as that update
left it (<code>incident_updates</code> newest first, <code>components</code>,
<code>postmortem_body</code>, <code>postmortem_published_at</code> and
<code>postmortem_body_last_updated_at</code>), <code>data.update</code> is the update with its
label (Investigating, Update, Identified, Monitoring, Resolved, Postmortem), and
<code>data.sequence</code> grows with every change of the incident, so events that arrive out
of order can be put back in order. A <code>component.updated</code> event carries
<code>data.component</code> and <code>data.component_update</code> (<code>old_status</code>,
<code>new_status</code>); a <code>webhook.test</code> ping carries <code>data.message</code>.
A maintenance event has an incident event's <code>data</code>: <code>data.incident</code> is the
maintenance, as Statuspage models one (<code>impact</code> <code>maintenance</code>, statuses
<code>scheduled</code>, <code>in_progress</code>, <code>verifying</code>, <code>completed</code>,
its window in <code>scheduled_for</code> and <code>scheduled_until</code>, the clock's
<code>scheduled_remind_prior</code>, <code>scheduled_reminded_at</code>,
<code>scheduled_auto_in_progress</code>, <code>scheduled_auto_completed</code>, and
<code>cancelled_at</code>), and <code>data.update</code> the step's update, labelled Scheduled,
Reminder, In progress, Update, Rescheduled, Completed or Cancelled.</p>
</section>

<section aria-labelledby="statuspage">
<h2 id="statuspage">Body: the Statuspage format</h2>
<p>Endpoints registered with <code>format: statuspage</code> receive Statuspage's own webhook
body, with every key of Statuspage's, so an existing Statuspage consumer reads it unchanged:</p>
<pre>{{"meta": {{"unsubscribe": "...", "documentation": "...", "generated_at": "..."}},
 "page": {{"id": "...", "status_indicator": "major", "status_description": "Partial System Outage"}},
 "incident": {{..., "incident_updates": [...], "postmortem_body_last_updated_at": null, ...}}}}</pre>
<p>A maintenance is an <code>incident</code> body too, as Statuspage sends one: <code>impact</code>
<code>maintenance</code>, its <code>scheduled_*</code> fields filled in. A cancelled maintenance
reads <code>completed</code> (Statuspage has no cancelled status); its <code>cancelled_at</code>
says it was cancelled.</p>
<p>A component status change has <code>component</code> and <code>component_update</code>
instead of <code>incident</code>. A test ping is a component update too, of a component that
does not exist ("Test component", operational to operational), with
<code>"test": true</code> in <code>meta</code>: nothing changed.</p>
</section>

<section aria-labelledby="answers">
<h2 id="answers">Answering, retries and replays</h2>
<ul>
<li>Answer any 2xx within {duration(settings.webhook.timeout_seconds)}: that is a delivery.
Anything else, a redirect included, is a failure and is retried later with the same
<code>webhook-id</code>: after about {retries} (each &#177;20 %, about {duration(sum(delays))} in all);
a <code>Retry-After</code> header pushes the next attempt back.</li>
<li>After the last retry the delivery is kept, and {name}'s staff can re-send it.</li>
<li>An endpoint whose every delivery has failed for {duration(settings.webhook.disable_after_seconds)} is
disabled.</li>
</ul>
</section>

<section aria-labelledby="{UNSUBSCRIBE_FRAGMENT}-heading" id="{UNSUBSCRIBE_FRAGMENT}">
<h2 id="{UNSUBSCRIBE_FRAGMENT}-heading">Stop receiving these webhooks</h2>
<p>A webhook endpoint cannot be removed by following a link: {name}'s staff registered it and
manage it. Two ways to stop the deliveries:</p>
<ul>
<li>Ask {name}'s staff to remove the endpoint. They delete it with the staff API
(<code>{delete}</code>) and nothing more is sent to it.</li>
<li>Answer a delivery with <code>410 Gone</code>: the endpoint is disabled at once, and
nothing more is sent until the staff enable it again.</li>
</ul>
{named}
</section>
</main>
</body>
</html>
"""
