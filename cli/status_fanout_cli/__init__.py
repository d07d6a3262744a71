"""The staff CLI (`status-fanout incident|component|maintenance|template|
subscribers|keys|audit`): a client of the staff HTTP API (docs/cli.md).

It is installed with the package (`pip install status-fanout[cli]`, which
`[local]` includes) and lives outside layers/core/, so no Lambda artifact ever
carries it or its dependencies (Typer, Rich).
"""
