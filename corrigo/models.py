"""Chat models by spec: ``provider:name``.

- ``openai:<model>``: any OpenAI-compatible server through LangChain's ``ChatOpenAI``
  (``base_url`` from the settings / ``--base-url`` / ``OPENAI_BASE_URL``).
- ``ollama:<model>``: Ollama's OpenAI-compatible ``/v1`` endpoint.
- ``local:<name or path.gguf>``: a GGUF model in process via llama-cpp-python.
- ``scripted:<file>``: replies read from a YAML/JSON file, per role and task (tests, demos).
- ``replay:<run id>``: the replies recorded in a stored run (see :mod:`corrigo.replay`).

Every model answers ``complete(messages, role=, task_id=)`` with a :class:`Reply` that
carries the text and its usage, so every call is recorded the same way.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from corrigo.config import Settings
from corrigo.errors import ConfigError, ModelCallFailed, ModelUnavailable, UnknownProvider
from corrigo.records import Message, Usage

ROLES = ("solver", "reviewer", "refiner")
DEFAULT_LOCAL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class Reply:
    text: str
    usage: Usage
    model: str


class ChatModel(ABC):
    """A model that can be asked for one reply to a list of messages."""

    spec: str

    @abstractmethod
    async def complete(self, messages: Sequence[Message], *, role: str, task_id: str) -> Reply:
        """One reply; raises ModelError subclasses only."""

    async def check(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Raise ModelUnavailable if the model cannot be used (reachability, files)."""

    @property
    def calls_network(self) -> bool:
        return False


def public_url(url: str) -> str:
    """``url`` without credentials, safe for logs and stored records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class OpenAIModel(ChatModel):
    """An OpenAI-compatible chat endpoint, reached through LangChain's ChatOpenAI."""

    def __init__(
        self,
        name: str,
        base_url: str | None,
        api_key: str | None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = 120.0,
    ) -> None:
        from langchain_openai import ChatOpenAI

        if not api_key and not base_url:
            raise ConfigError(
                "openai models need OPENAI_API_KEY, or --base-url for a local OpenAI-compatible server"
            )
        self.spec = f"openai:{name}"
        self.name = name
        self.base_url = base_url
        self._api_key = api_key or "unused"
        self._chat = ChatOpenAI(
            model=name,
            base_url=base_url,
            api_key=self._api_key,  # type: ignore[arg-type]
            temperature=temperature,
            max_completion_tokens=max_tokens,
            timeout=timeout,
            max_retries=1,
        )

    @property
    def calls_network(self) -> bool:
        return True

    def _where(self) -> str:
        return public_url(self.base_url) if self.base_url else "the OpenAI API"

    async def check(self) -> None:
        base = (self.base_url or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{base}/models", headers=headers)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(
                f"cannot reach model server at {self._where()}: {type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            raise ModelUnavailable(f"model server at {self._where()} refused the API key")

    async def complete(self, messages: Sequence[Message], *, role: str, task_id: str) -> Reply:
        import openai
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

        kinds: dict[str, type[BaseMessage]] = {
            "system": SystemMessage,
            "user": HumanMessage,
            "assistant": AIMessage,
        }
        payload = [kinds[m.role](content=m.content) for m in messages]
        started = time.perf_counter()
        try:
            answer = await self._chat.ainvoke(payload)
        except openai.APIConnectionError:
            raise ModelCallFailed(f"cannot reach model server at {self._where()}") from None
        except openai.APIStatusError as exc:
            raise ModelCallFailed(
                f"model server at {self._where()} answered HTTP {exc.status_code}"
            ) from None
        except Exception as exc:  # the boundary: whatever the client raised, the run sees ours
            raise ModelCallFailed(
                f"bad response from model server at {self._where()}: {type(exc).__name__}"
            ) from None
        latency = (time.perf_counter() - started) * 1000.0
        text = answer.content if isinstance(answer.content, str) else str(answer.content)
        meta = getattr(answer, "usage_metadata", None) or {}
        usage = Usage(
            tokens_in=int(meta.get("input_tokens", 0)),
            tokens_out=int(meta.get("output_tokens", 0)),
            latency_ms=latency,
        )
        return Reply(text=text, usage=usage, model=self.spec)


OLLAMA_URL = "http://127.0.0.1:11434/v1"


def get_model(spec: str, settings: Settings) -> ChatModel:
    """A model for ``spec``; raises UnknownProvider / ConfigError / ModelUnavailable."""
    provider, sep, name = spec.partition(":")
    if not sep or not name:
        raise UnknownProvider(
            f"model spec {spec!r} must look like provider:name (openai:, ollama:, local:, scripted:)"
        )
    if provider == "openai":
        return OpenAIModel(name, settings.base_url, settings.api_key)
    if provider == "ollama":
        return OpenAIModel(name, settings.base_url or OLLAMA_URL, settings.api_key)
    if provider == "scripted":
        from corrigo.scripted import ScriptedModel

        return ScriptedModel(name)
    if provider == "local":
        from corrigo.local_models import LocalModel

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
        from corrigo.local_models import default_local_spec

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
