"""A :class:`ChatModel` over any LangChain chat model.

Every provider is a LangChain ``BaseChatModel`` (``ChatOpenAI`` for OpenAI-compatible
servers, :class:`~corrigo.models.scripted.ScriptedChat`,
:class:`~corrigo.models.llama.LlamaChat`), so usage, finish reasons, refusals, tracing
callbacks and message conversion work one way for all of them. This adapter adds what
corrigo's contract needs on top: a concurrency slot per model object, the role and task
as run metadata (visible to LangChain tracers and to the scripted model), sampling
parameters per call, and a :class:`Reply` classified with flags.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from corrigo.errors import CorrigoError, ModelCallFailed
from corrigo.models.base import ChatModel, Reply, reply_flags
from corrigo.records import Message, Usage

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig

ROLE_KEY = "corrigo_role"
TASK_KEY = "corrigo_task"


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds: dict[str, Any] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m.role](content=m.content) for m in messages]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class LangChainModel(ChatModel):
    """Our contract over a LangChain chat model built lazily by :meth:`build`."""

    def __init__(self, spec: str, label: str | None = None, concurrency: int = 1) -> None:
        self.spec = spec
        self.label = label or spec
        self.concurrency = concurrency
        self._built: tuple[asyncio.AbstractEventLoop | None, BaseChatModel] | None = None

    @abstractmethod
    def build(self) -> BaseChatModel:
        """The LangChain chat model behind this one (built on first use in each loop)."""

    @property
    def chat(self) -> BaseChatModel:
        """The LangChain chat model, built again in a new event loop: HTTP clients pool
        connections that belong to the loop that opened them."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._built is None or self._built[0] is not loop:
            self._built = (loop, self.build())
        return self._built[1]

    async def aclose(self) -> None:
        """Close the chat model's HTTP client, if it has one; the next call opens another."""
        built, self._built = self._built, None
        client = getattr(built[1], "root_async_client", None) if built else None
        if client is not None:
            await client.close()

    def params(
        self, temperature: float | None, seed: int | None, max_tokens: int | None
    ) -> dict[str, Any]:
        """Call keyword arguments for the sampling parameters (None: the model's own)."""
        out: dict[str, Any] = {"temperature": temperature, "seed": seed, "max_tokens": max_tokens}
        return {k: v for k, v in out.items() if v is not None}

    async def invoke(
        self, messages: list[BaseMessage], config: RunnableConfig, params: dict[str, Any]
    ) -> AIMessage:
        """One call; providers override this to add retries or translate their errors."""
        try:
            return await self.chat.ainvoke(messages, config=config, **params)
        except CorrigoError:
            raise
        except Exception as exc:  # the boundary: whatever the model raised, the run sees ours
            raise ModelCallFailed(f"{self.spec} failed: {first_line(exc)}") from None

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        role: str,
        task_id: str,
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Reply:
        config: RunnableConfig = {
            "run_name": f"corrigo.{role}",
            "metadata": {ROLE_KEY: role, TASK_KEY: task_id},
        }
        payload = to_langchain(messages)
        params = self.params(temperature, seed, max_tokens)
        async with self.slot():
            started = time.perf_counter()
            answer = await self.invoke(payload, config, params)
            latency = (time.perf_counter() - started) * 1000.0
        return self.reply(answer, latency)

    def reply(self, answer: AIMessage, latency_ms: float) -> Reply:
        text = answer.text
        meta: dict[str, Any] = dict(answer.usage_metadata or {})
        finish = answer.response_metadata.get("finish_reason")
        refusal = answer.additional_kwargs.get("refusal")
        return Reply(
            text=text,
            usage=Usage(
                tokens_in=int(meta.get("input_tokens", 0)),
                tokens_out=int(meta.get("output_tokens", 0)),
                latency_ms=latency_ms,
            ),
            model=self.label,
            finish_reason=str(finish) if finish is not None else None,
            flags=reply_flags(text, finish, refusal if isinstance(refusal, str) else None),
        )
