"""status-fanout's shared runtime library: domain, store and rendering.

Ships as the Lambda layer; every handler in functions/ imports from here.
"""
