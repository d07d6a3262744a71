"""Dev-only local stack for status-fanout: moto, the real handlers, pollers and an HTTP front door."""
