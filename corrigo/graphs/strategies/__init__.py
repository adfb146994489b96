"""One module per strategy; each exposes ``STRATEGY`` (see :mod:`corrigo.graphs.registry`)."""
