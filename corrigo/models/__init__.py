"""Chat models by spec: ``provider:name``.

- ``openai:<model>``: any OpenAI-compatible server through LangChain's ``ChatOpenAI``
  (``base_url`` from the settings / ``--base-url`` / ``OPENAI_BASE_URL``).
- ``ollama:<model>``: Ollama's OpenAI-compatible ``/v1`` endpoint.
- ``local:<name or path.gguf>``: a GGUF model in process via llama-cpp-python.
- ``scripted:<file>``: replies read from a YAML/JSON file, per role and task (tests, demos).
- ``replay:<run id>``: the replies recorded in a stored run (see :mod:`corrigo.replay`).

The package: ``base`` (the :class:`ChatModel` contract, :class:`Reply` and its flags),
``chat`` (the contract over any LangChain chat model), ``retry`` (retries within a
deadline), and one module per provider: ``openai``, ``local`` (catalogue, ``pull``) with
``llama`` (inference), ``scripted``; ``pricing`` (what a call costs, by spec). Provider
modules are imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping

from corrigo.config import Settings
from corrigo.errors import ConfigError, UnknownProvider
from corrigo.models.base import DEFAULT_LOCAL, ROLES, ChatModel, Reply, public_url

OLLAMA_URL = "http://127.0.0.1:11434/v1"

__all__ = [
    "DEFAULT_LOCAL",
    "OLLAMA_URL",
    "ROLES",
    "ChatModel",
    "Reply",
    "build_models",
    "check_models",
    "close_models",
    "get_model",
    "public_url",
    "resolve_specs",
]


def get_model(spec: str, settings: Settings) -> ChatModel:
    """A model for ``spec``, with its price from the settings' price table (None: no
    price); raises UnknownProvider / ConfigError / ModelUnavailable."""
    from corrigo.models.pool import priced_spec
    from corrigo.models.pricing import price_of

    price = price_of(priced_spec(spec), settings)  # a bad price file fails before any model
    model = _build(spec, settings)
    model.price = price
    return model


def _build(spec: str, settings: Settings) -> ChatModel:
    provider, sep, name = spec.partition(":")
    if not sep or not name:
        raise UnknownProvider(
            f"model spec {spec!r} must look like provider:name (openai:, ollama:, local:, scripted:)"
        )
    if provider == "openai":
        from corrigo.models.openai import OpenAIModel
        from corrigo.models.pool import ServerPool, split_servers

        split = split_servers(name)
        if split is not None:  # openai:NAME(URL*N, URL*N)
            return ServerPool.from_servers(spec, *split, settings)
        return OpenAIModel.from_settings(name, settings)
    if provider == "ollama":
        from corrigo.models.openai import OpenAIModel

        return OpenAIModel.from_settings(
            name, settings, base_url=settings.base_url or OLLAMA_URL, spec=spec
        )
    if provider == "scripted":
        from corrigo.models.scripted import ScriptedModel

        return ScriptedModel(name)
    if provider == "local":
        from corrigo.models.local import LocalModel

        return LocalModel(name, settings)
    if provider == "replay":
        raise ConfigError("replay models are built by 'corrigo replay', not by --model")
    raise UnknownProvider(
        f"unknown model provider {provider!r} (known: openai, ollama, local, scripted)"
    )


def resolve_specs(
    model: str | None, overrides: Mapping[str, str] | None, settings: Settings
) -> dict[str, str]:
    """role → spec: ``model`` (or the configured / local default) for every role, then overrides."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(ROLES)
    if unknown:
        raise ConfigError(f"unknown role(s) {sorted(unknown)} (roles: {', '.join(ROLES)})")
    base = model or settings.model
    if base is None and len(overrides) < len(ROLES):
        from corrigo.models.local import default_local_spec

        base = default_local_spec(settings)
    return {role: overrides.get(role) or str(base) for role in ROLES}


def build_models(specs: Mapping[str, str], settings: Settings) -> dict[str, ChatModel]:
    """One model object per distinct spec, shared by the roles that use it."""
    built: dict[str, ChatModel] = {}
    for spec in specs.values():
        if spec not in built:
            built[spec] = get_model(spec, settings)
    return {role: built[spec] for role, spec in specs.items()}


async def check_models(models: Mapping[str, ChatModel]) -> None:
    """Raise ModelUnavailable for the first model that cannot be used."""
    seen: set[int] = set()
    for model in models.values():
        if id(model) in seen:
            continue
        seen.add(id(model))
        await model.check()


async def close_models(models: Mapping[str, ChatModel]) -> None:
    """Close every distinct model's connections (call when a run or service is done)."""
    for model in {id(m): m for m in models.values()}.values():
        await model.aclose()
