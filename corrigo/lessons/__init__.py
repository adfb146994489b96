"""Lessons that carry across tasks: which to show a new task, and whether they help.

A lesson (:class:`~corrigo.records.Lesson`) is advice written by the reflector after a
run that was corrected, or by reflexion after a failed round, kept with the run and
step it came from. The store keeps lessons and their counters
(:class:`~corrigo.storage.lessons.LessonStore`); this package decides what the counters
mean. It is pure logic over a store, with no model calls:

- :mod:`corrigo.lessons.retrieval`: scope keys, a task's topic, TF-IDF similarity, and
  :func:`~corrigo.lessons.retrieval.relevant`, the lessons to put in a task's prompt;
- :mod:`corrigo.lessons.gate`: the help gate, which demotes and retires lessons that do
  not help, counted by :func:`~corrigo.lessons.gate.record_outcome` after each run.

It sits below the graphs: it imports records, errors and the storage contracts, never
:mod:`corrigo.graphs`, whose :mod:`corrigo.graphs.lessons` recalls lessons into a run
and learns new ones from it.
"""
