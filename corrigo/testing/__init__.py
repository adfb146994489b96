"""The conformance suites: what every backend of an interface must pass.

They are test contracts shipped with the package, not product code: ``tests/`` runs
each suite against every backend available (:mod:`corrigo.testing.storage` for
trajectory stores, :mod:`corrigo.testing.sandbox` for sandboxes), and a backend written
outside corrigo can run the same checks. A new backend is done when it passes its suite.
"""
