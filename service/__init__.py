"""The Palette HTTP API: the FastAPI app, its routers, request forms and answers, and the job service behind
them. What it shares with the workers (payload, Redis layout, queue, cluster metrics, settings) is the
``jobs`` package.

Nothing in this package imports torch, so the API runs on machines without it."""
