"""Thin HTTP layers over ``service.jobs``: parse, call, shape the answer. One convention: each module has
a factory, ``<name>_router(...)``, that ``service.app`` calls once per app, so an app's routes close over
its own settings and several apps can live in one process (tests)."""
