"""The api's routes, one Powertools Router per area. Each module's `router`
builds its area's router for one container (one import of the handler) from
that container's `Services`; `functions/api/app.py` includes them in order."""
