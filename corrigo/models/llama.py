"""In-process inference with llama-cpp-python, as a LangChain chat model (:class:`LlamaChat`).

One ``Llama`` per model file is loaded on first use and shared, with a lock, by every
call in the process (llama.cpp contexts are not thread-safe).

**Prompt reuse.** llama-cpp-python (0.3.x) already keeps the KV cache of the previous
call and evaluates only what follows the longest common token prefix, so several
samples of one prompt (best-of-n) evaluate it once. Prompts that alternate — solver,
reviewer, refiner — would each start over, so a RAM cache (``LlamaRAMCache``) keeps the
state after each call, keyed by its tokens, and a call restores the state that shares
its longest prefix. Its stored states leave out the logits of every evaluated position
(``n_batch × n_vocab`` floats, ~300 MB for a 150k vocabulary): the next call always
evaluates at least one token before it samples, so they are never read.

**Stopping.** A call stops between generated tokens when its deadline passes or its
caller was cancelled (prompt evaluation itself cannot be interrupted).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from corrigo.errors import ModelCallFailed, ModelUnavailable

_CANCELLED: set[uuid.UUID] = set()
_LOADED: dict[str, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def cancel_run(run_id: uuid.UUID) -> None:
    """Ask the call running as ``run_id`` to stop at its next token."""
    _CANCELLED.add(run_id)


@dataclass
class _Loaded:
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: Any = None

    def prompt_cache(self, capacity: int) -> Any:
        if self.cache is None:
            from llama_cpp import LlamaRAMCache

            self.cache = LlamaRAMCache(capacity_bytes=capacity)
        return self.cache


def _llama_class() -> type:
    from llama_cpp import Llama, StoppingCriteriaList

    class CorrigoLlama(Llama):
        """``Llama`` with a per-call stop check and cache states without logits."""

        stop_check: Callable[[], bool] | None = None
        _saving = False

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            check = self.stop_check
            if check is not None:
                mine = [lambda _ids, _logits: check()]
                theirs = kwargs.get("stopping_criteria") or []
                kwargs["stopping_criteria"] = StoppingCriteriaList([*theirs, *mine])
            return super().create_completion(*args, **kwargs)

        def save_state(self) -> Any:
            self._saving = True
            try:
                return super().save_state()
            finally:
                self._saving = False

        @property
        def _scores(self) -> Any:
            if self._saving:  # a (1, 1) zero broadcasts over the rows load_state fills
                import numpy as np

                return np.zeros((1, 1), dtype=np.single)
            return self.scores[: self.n_tokens, :]

    return CorrigoLlama


def load(path: str, n_ctx: int) -> _Loaded:
    with _LOAD_LOCK:
        if path not in _LOADED:
            try:
                llama = _llama_class()(
                    model_path=path,
                    n_ctx=n_ctx,
                    n_threads=max(1, os.cpu_count() or 1),
                    seed=0,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelUnavailable(f"cannot load {path}: {exc}") from None
            # Free the model before interpreter teardown, while llama.cpp is still loaded.
            atexit.register(llama.close)
            _LOADED[path] = _Loaded(llama)
        return _LOADED[path]


class LlamaChat(BaseChatModel):
    """A GGUF model through llama-cpp-python. Call keywords: ``temperature``, ``seed``,
    ``max_tokens`` and ``deadline`` (seconds)."""

    model_path: str
    n_ctx: int = 4096
    cache_bytes: int = 512 << 20  # 0: no prompt cache
    max_tokens: int = 768
    label: str = "local"
    cache: bool = False  # LangChain's response cache: never, replies are sampled

    @property
    def _llm_type(self) -> str:
        return "corrigo-llama-cpp"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        handle = load(self.model_path, self.n_ctx)
        run_id = run_manager.run_id if run_manager else None
        deadline = kwargs.get("deadline")
        end = time.monotonic() + float(deadline) if deadline else None
        why: list[str] = []

        def stop_now() -> bool:
            if run_id is not None and run_id in _CANCELLED:
                why.append("cancelled")
            elif end is not None and time.monotonic() > end:
                why.append(f"no reply within the {deadline:g} s deadline")
            return bool(why)

        roles = {"human": "user", "ai": "assistant", "system": "system"}
        payload = [{"role": roles.get(m.type, "user"), "content": m.text} for m in messages]
        with handle.lock:
            llama = handle.llama
            llama.set_cache(handle.prompt_cache(self.cache_bytes) if self.cache_bytes else None)
            llama.stop_check = stop_now
            try:
                result: dict[str, Any] = llama.create_chat_completion(
                    messages=payload,
                    temperature=float(kwargs.get("temperature", 0.0)),
                    seed=int(kwargs.get("seed", 0)),
                    max_tokens=int(kwargs.get("max_tokens") or self.max_tokens),
                    stop=stop,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelCallFailed(f"{self.label} failed: {exc}") from None
            finally:
                llama.stop_check = None
                if run_id is not None:
                    _CANCELLED.discard(run_id)
        if why:
            raise ModelCallFailed(f"{self.label}: {why[0]}")
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens", 0))
        tokens_out = int(usage.get("completion_tokens", 0))
        message = AIMessage(
            content=choice["message"].get("content") or "",
            response_metadata={
                "finish_reason": choice.get("finish_reason"),
                "model_name": self.label,
            },
            usage_metadata={
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
