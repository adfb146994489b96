"""Checkers that need no model and no sandbox: whether a math answer equals the reference
(``answers``), whether a reply follows written instructions (``instructions``).

They sit below task sources and agents: a task file is validated with them when it is
read, and the verifier grounds replies with them during a run.
"""
