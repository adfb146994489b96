"""The checkpoint serializer: JSON with an allow-list of types, never pickle.

LangGraph checkpointers store graph state through a serializer. Its default can rebuild
objects of any importable class from stored bytes (and pickle when told to): stored
data would decide which code runs on load. ``JsonSerde`` writes plain JSON and reads
back only JSON scalars, lists, dicts and the types named in :data:`ALLOWED`, which are
rebuilt through pydantic validation or their own constructor with checked fields.
Anything else fails loudly: unknown types on write (a bug, caught in tests) and
unknown tags or malformed values on read (tampering) raise
:class:`~corrigo.errors.StoreError`.

Encoding: scalars, lists and string-keyed dicts are themselves; everything else is an
object ``{"$t": <tag>, "v": <value>}``. A stored dict whose own keys could be taken
for a tag (any key starting with ``$``) is written as ``{"$t": "dict", "v": [[k, v],
…]}``, so text from a model reply can never pose as a tagged object.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from corrigo.errors import StoreError

_TAG = "$t"


def _models() -> dict[str, type[BaseModel]]:
    from corrigo.records import (
        Attempt,
        Candidate,
        ExecResult,
        Message,
        Review,
        Spend,
        TestCase,
        TestResult,
        Usage,
        Verdict,
    )

    classes: list[type[BaseModel]] = [
        Attempt,
        Spend,
        Candidate,
        ExecResult,
        Message,
        Review,
        TestCase,
        TestResult,
        Usage,
        Verdict,
    ]
    return {cls.__name__: cls for cls in classes}


class JsonSerde:
    """LangGraph's ``SerializerProtocol`` over JSON and an allow-list of types."""

    def __init__(self) -> None:
        self._models = _models()

    # -- SerializerProtocol -------------------------------------------------------------

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, bytes | bytearray):
            return "bytes", bytes(obj)
        return "json", json.dumps(self.encode(obj), separators=(",", ":")).encode()

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        kind, payload = data
        if kind == "bytes":
            return payload
        if kind == "empty":  # LangGraph's marker for a channel with no value
            return None
        if kind != "json":
            raise StoreError(f"stored checkpoint data of type {kind!r} refused: only JSON is read")
        try:
            raw = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise StoreError("stored checkpoint data cannot be decoded: not JSON") from None
        return self.decode(raw)

    # -- encoding -----------------------------------------------------------------------

    def encode(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_TAG: "float", "v": repr(obj)}
        if isinstance(obj, list):
            return [self.encode(item) for item in obj]
        if isinstance(obj, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in obj):
                return {k: self.encode(v) for k, v in obj.items()}
            return {_TAG: "dict", "v": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {_TAG: "tuple", "v": [self.encode(item) for item in obj]}
        if isinstance(obj, set | frozenset):
            return {_TAG: "set", "v": [self.encode(item) for item in sorted(obj, key=repr)]}
        if isinstance(obj, datetime):
            return {_TAG: "datetime", "v": obj.isoformat()}
        if isinstance(obj, bytes | bytearray):
            return {_TAG: "bytes", "v": base64.b64encode(bytes(obj)).decode()}
        name = type(obj).__name__
        if isinstance(obj, BaseException):
            # LangGraph records a failed node's error; it is kept as its type and text.
            return {_TAG: "error", "v": {"type": name, "message": str(obj)}}
        if isinstance(obj, BaseModel) and self._models.get(name) is type(obj):
            return {_TAG: name, "v": obj.model_dump(mode="json")}
        special = _special_encoders().get(type(obj))
        if special is not None:
            return {_TAG: name, "v": self.encode(special(obj))}
        raise TypeError(
            f"{type(obj).__module__}.{type(obj).__qualname__} is not on the checkpoint "
            "allow-list (corrigo.storage.serde)"
        )

    # -- decoding -----------------------------------------------------------------------

    def decode(self, raw: Any) -> Any:
        if isinstance(raw, list):
            return [self.decode(item) for item in raw]
        if not isinstance(raw, dict):
            return raw
        if _TAG not in raw:
            return {k: self.decode(v) for k, v in raw.items()}
        tag, value = raw.get(_TAG), raw.get("v")
        try:
            return self._decode_tagged(tag, value)
        except StoreError:
            raise
        except (ValidationError, TypeError, ValueError, KeyError):
            raise StoreError(f"stored checkpoint value of type {tag!r} cannot be decoded") from None

    def _decode_tagged(self, tag: Any, value: Any) -> Any:
        if tag == "dict":
            return {self._hashable(self.decode(k)): self.decode(v) for k, v in value}
        if tag == "tuple":
            return tuple(self.decode(item) for item in value)
        if tag == "set":
            return {self._hashable(self.decode(item)) for item in value}
        if tag == "float":
            return float(value) if value in {"nan", "inf", "-inf"} else _refuse(tag)
        if tag == "datetime":
            return datetime.fromisoformat(value)
        if tag == "bytes":
            return base64.b64decode(value, validate=True)
        if tag == "error":
            return StoredError(str(value["type"]), str(value["message"]))
        model = self._models.get(tag) if isinstance(tag, str) else None
        if model is not None:
            return model.model_validate(value)
        special = _special_decoders().get(tag) if isinstance(tag, str) else None
        if special is not None:
            return special(self.decode(value))
        return _refuse(tag)

    @staticmethod
    def _hashable(key: Any) -> Any:
        hash(key)  # a list where a key belongs is tampering: TypeError → StoreError
        return key


class StoredError(Exception):
    """An exception read back from a checkpoint: its type's name and its message only."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


def _refuse(tag: Any) -> Any:
    raise StoreError(f"stored checkpoint value of unknown type {str(tag)[:40]!r} refused")


def _special_encoders() -> dict[type, Callable[[Any], Any]]:
    from langgraph.types import Interrupt, Send

    return {
        Send: lambda s: {"node": s.node, "arg": s.arg},
        Interrupt: lambda i: {"value": i.value, "id": i.id},
    }


def _special_decoders() -> dict[str, Callable[[Any], Any]]:
    from langgraph.types import Interrupt, Send

    def send(v: dict[str, Any]) -> Send:
        if not isinstance(v.get("node"), str):
            raise ValueError("a Send needs a node name")
        return Send(v["node"], v.get("arg"))

    def interrupt(v: dict[str, Any]) -> Interrupt:
        return Interrupt(value=v.get("value"), id=str(v.get("id")))

    return {"Send": send, "Interrupt": interrupt}
