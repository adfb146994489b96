"""The run lifecycle: options → specs → one session (models, caches, store, sandboxes,
checkpointer) → execute, resume or fork.

The CLI, ``corrigo serve``, the bench grid and the embeddable graph all go through this
package. Importing it loads nothing: its modules are imported by what needs them
(:mod:`corrigo.lifecycle.stored` reads stored runs without LangGraph or the strategies).
"""
