"""The server's routes, one module per resource, each an ``APIRouter`` named ``router``.

- :mod:`~corrigo.serve.routes.health`: ``/v1/health``, open to all.
- :mod:`~corrigo.serve.routes.meta`: ``/openapi.json`` and ``/docs``.
- :mod:`~corrigo.serve.routes.runs`: everything under ``/v1/runs``.
- :mod:`~corrigo.serve.routes.streams`: a run's event stream and its limits (the route
  is in ``runs``).
- :mod:`~corrigo.serve.routes.deps`: what routes share, as FastAPI dependencies.

:func:`corrigo.serve.app.create_app` mounts the routers and decides which need a token;
the web viewer's pages are :mod:`corrigo.serve.viewer`.
"""
