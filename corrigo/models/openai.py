"""OpenAI-compatible chat endpoints (``openai:NAME``, ``ollama:NAME``) via LangChain's ChatOpenAI.

Calls go through :mod:`corrigo.models.retry`: HTTP 429, 5xx and dropped connections are
retried with jittered backoff or the server's ``Retry-After``; other 4xx fail at once;
the whole call, retries included, has one deadline. Errors are one line naming the
server without credentials; the API key never appears in them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from corrigo.config import Settings
from corrigo.errors import ConfigError, ModelCallFailed, ModelUnavailable
from corrigo.models.base import DEFAULT_SEED, DEFAULT_TEMPERATURE, public_url
from corrigo.models.chat import LangChainModel
from corrigo.models.retry import (
    DeadlineExceeded,
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    call_with_retries,
    retry_after,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig

DEFAULT_MAX_TOKENS = 1024


def classify(exc: BaseException) -> Retryable | None:
    """Which client failures are worth another attempt: 429, 5xx, connection trouble."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 429 or code >= 500:
            return Retryable(f"HTTP {code}", retry_after(exc.response.headers))
        return None
    if isinstance(exc, openai.APITimeoutError):
        return Retryable("timed out")
    if isinstance(exc, openai.APIConnectionError):
        return Retryable("connection failed")
    return None


class OpenAIModel(LangChainModel):
    """An OpenAI-compatible chat endpoint, reached through LangChain's ChatOpenAI."""

    def __init__(
        self,
        name: str,
        base_url: str | None,
        api_key: str | None,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        spec: str | None = None,
    ) -> None:
        if not api_key and not base_url:
            raise ConfigError(
                "openai models need OPENAI_API_KEY, or --base-url for a local OpenAI-compatible server"
            )
        super().__init__(spec or f"openai:{name}", concurrency=concurrency)
        self.name = name
        self.base_url = base_url
        self.policy = policy or RetryPolicy()
        self.max_tokens = max_tokens
        self._api_key = api_key or "unused"

    @classmethod
    def from_settings(cls, name: str, settings: Settings, **kwargs: Any) -> OpenAIModel:
        policy = RetryPolicy(
            retries=settings.model_retries,
            deadline=settings.model_deadline,
            backoff=settings.model_backoff,
        )
        return cls(
            name,
            kwargs.pop("base_url", settings.base_url),
            settings.api_key,
            policy=policy,
            concurrency=settings.model_concurrency,
            **kwargs,
        )

    @property
    def calls_network(self) -> bool:
        return True

    def where(self) -> str:
        return public_url(self.base_url) if self.base_url else "the OpenAI API"

    def build(self) -> BaseChatModel:
        import openai
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=self.name,
            base_url=self.base_url,
            api_key=self._api_key,  # type: ignore[arg-type]
            max_retries=0,  # ours, in call_with_retries
            timeout=self.policy.deadline,
            disable_streaming=True,
            # Our own connection pool, not LangChain's process-wide one per base URL:
            # a pool belongs to one event loop, and aclose() must not close another's.
            http_async_client=openai.DefaultAsyncHttpxClient(timeout=self.policy.deadline),
        )

    def params(
        self, temperature: float | None, seed: int | None, max_tokens: int | None
    ) -> dict[str, Any]:
        return {
            "temperature": DEFAULT_TEMPERATURE if temperature is None else temperature,
            "seed": DEFAULT_SEED if seed is None else seed,
            "max_tokens": max_tokens or self.max_tokens,
        }

    async def check(self) -> None:
        base = (self.base_url or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(f"{base}/models", headers=headers)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(
                f"cannot reach model server at {self.where()}: {type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            raise ModelUnavailable(f"model server at {self.where()} refused the API key")

    async def invoke(
        self, messages: list[BaseMessage], config: RunnableConfig, params: dict[str, Any]
    ) -> AIMessage:
        import openai

        async def attempt(_left: float) -> AIMessage:
            return await self.chat.ainvoke(messages, config=config, **params)

        where = self.where()
        try:
            return await call_with_retries(attempt, classify, self.policy)
        except DeadlineExceeded as exc:
            last = f"; last: {exc.last.reason}" if exc.last else ""
            raise ModelCallFailed(
                f"model server at {where} gave no reply within the {exc.deadline:g} s deadline"
                f" ({exc.attempts} attempt(s){last})"
            ) from None
        except RetriesExhausted as exc:
            if isinstance(exc.error, openai.APIStatusError):
                raise ModelCallFailed(
                    f"model server at {where} answered {exc.last.reason} ({exc.attempts} attempts)"
                ) from None
            raise ModelCallFailed(
                f"cannot reach model server at {where}: {exc.last.reason} ({exc.attempts} attempts)"
            ) from None
        except openai.APIStatusError as exc:
            raise ModelCallFailed(
                f"model server at {where} answered HTTP {exc.status_code}"
            ) from None
        except Exception as exc:  # the boundary: whatever the client raised, the run sees ours
            raise ModelCallFailed(
                f"bad response from model server at {where}: {type(exc).__name__}"
            ) from None
