"""``corrigo serve``: the HTTP face of corrigo (an ASGI app on FastAPI, run by uvicorn).

- :mod:`~corrigo.serve.config`: :class:`ServeConfig`, from ``CORRIGO_API_TOKENS`` and
  ``CORRIGO_SERVE_*`` environment variables.
- :mod:`~corrigo.serve.auth`: bearer tokens (or the viewer's cookie), compared in
  constant time.
- :mod:`~corrigo.serve.schemas`: requests and responses; what a request may name.
- :mod:`~corrigo.serve.queue`: the run queue kept in the store, and its workers.
- :mod:`~corrigo.serve.events`: a run's steps and outcome as server-sent events.
- :mod:`~corrigo.serve.app`: ``create_app(config, settings)``, which mounts the routes.
- :mod:`~corrigo.serve.routes`: the routes, one router per resource (``runs``, ...).
- :mod:`~corrigo.serve.responses`: the JSON error body; secrets blanked from bodies.
- :mod:`~corrigo.serve.viewer`: the web viewer's pages (included when present).

Nothing here is imported by ``import corrigo``; this package needs ``corrigo[serve]``.
"""
