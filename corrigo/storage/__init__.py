"""Where runs, steps, lessons and benches are kept.

The contracts are split by what they hold (:mod:`.runs`, :mod:`.lessons`,
:mod:`.benches`) and joined in :mod:`.base` as the ``TrajectoryStore`` every backend
implements: :mod:`.sql` (SQLite, PostgreSQL) and :mod:`.redis`. :mod:`.factory` picks a
backend by URL; nothing else in this package imports it. Storage depends on records,
errors and config only, never on graphs, lessons or the run lifecycle.
"""
