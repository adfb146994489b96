"""Errors raised by corrigo.

Every error corrigo raises on purpose derives from :class:`CorrigoError`. Errors
from backends (SQLAlchemy, httpx, the OpenAI client, llama.cpp, the OS) are
translated into these types at the boundary where they occur, so callers never
need to catch a backend's own exception types::

    CorrigoError
    ├── UsageError              the caller asked for something that cannot be done
    │   ├── TaskNotFound        unknown task source, task id or selector
    │   ├── TaskFormatError     a task file line that is not a valid task
    │   ├── UnknownStrategy     no strategy registered under that name
    │   ├── UnknownProvider     no model provider registered under that prefix
    │   └── ConfigError         a setting that is missing or malformed
    ├── ModelError
    │   ├── ModelUnavailable    endpoint unreachable, local model not installed
    │   ├── ScriptExhausted     a scripted model ran out of replies
    │   └── ModelCallFailed     a call was made and failed
    ├── SandboxError
    │   └── SandboxUnavailable  backend missing or not started
    └── StoreError
        ├── StoreUnavailable    the store URL cannot be opened
        └── RunNotFound         no stored run with that id

A verifier finding that tests fail is not an error: it is a :class:`~corrigo.records.Verdict`
whose feedback goes to the next round. Errors are for things that stop work.
"""

from __future__ import annotations


class CorrigoError(Exception):
    """Base class of every error corrigo raises on purpose."""


class UsageError(CorrigoError):
    """The caller asked for something that cannot be done as asked."""


class TaskNotFound(UsageError):
    """No task source, task id or selector matches."""


class TaskFormatError(UsageError):
    """A task definition is malformed (the message names file and line)."""


class UnknownStrategy(UsageError):
    """No strategy is registered under the requested name."""


class UnknownProvider(UsageError):
    """No model provider is registered under the requested prefix."""


class ConfigError(UsageError):
    """A setting is missing or malformed."""


class ModelError(CorrigoError):
    """A model could not be reached or answered badly."""


class ModelUnavailable(ModelError):
    """The model cannot be used at all: unreachable endpoint, missing local file."""


class ScriptExhausted(ModelError):
    """A scripted model was asked for more replies than its script holds."""


class ModelCallFailed(ModelError):
    """A model call was made and failed (HTTP error, malformed response, timeout)."""


class SandboxError(CorrigoError):
    """The sandbox itself failed (not the code under test)."""


class SandboxUnavailable(SandboxError):
    """The requested sandbox backend is missing or not running."""


class StoreError(CorrigoError):
    """The trajectory store failed."""


class StoreUnavailable(StoreError):
    """The store URL cannot be opened."""


class RunNotFound(StoreError):
    """No stored run has the requested id."""
