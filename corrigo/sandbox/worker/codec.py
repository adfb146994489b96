"""Frames and values: what crosses between corrigo, the worker, testers and candidates.

Frames are a 4-byte big-endian length and a JSON body. Values cross as plain data:
exact builtin types only (see :func:`encode`), so no object of the candidate's making
ever reaches code that judges it.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import traceback
from typing import Any

FRAME = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


def read_exact(fd: int, size: int) -> bytearray | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            return None
        got += n
    return buf


def read_frame(fd: int) -> bytearray | None:
    head = read_exact(fd, FRAME.size)
    if head is None:
        return None
    (size,) = FRAME.unpack(head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return read_exact(fd, size) if size else bytearray()


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pack_frame(obj: object) -> bytes:
    body = json.dumps(obj).encode("utf-8")
    return FRAME.pack(len(body)) + body


def write_frame(fd: int, obj: object) -> None:
    write_all(fd, pack_frame(obj))


def take_frame(buf: bytearray) -> bytes | None:
    """Remove the first complete frame from ``buf`` and return its body (None: not yet)."""
    if len(buf) < FRAME.size:
        return None
    (size,) = FRAME.unpack_from(buf)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    if len(buf) < FRAME.size + size:
        return None
    body = bytes(buf[FRAME.size : FRAME.size + size])
    del buf[: FRAME.size + size]
    return body


class BoundaryError(TypeError):
    """A value that cannot cross between tester and candidate as plain data."""


def encode(value: Any, budget: list[int] | None = None) -> Any:
    budget = budget if budget is not None else [1_000_000]
    budget[0] -= 1
    if budget[0] < 0:
        raise BoundaryError("value too large to check")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return (
            value
            if value == value and value not in (float("inf"), -float("inf"))
            else {"$": "float", "v": repr(value)}
        )
    if kind is list:
        return [encode(v, budget) for v in value]
    if kind is tuple:
        return {"$": "tuple", "v": [encode(v, budget) for v in value]}
    if kind is dict:
        return {
            "$": "dict",
            "v": [[encode(k, budget), encode(v, budget)] for k, v in value.items()],
        }
    if kind in (set, frozenset):
        return {"$": kind.__name__, "v": [encode(v, budget) for v in value]}
    if kind is bytes:
        return {"$": "bytes", "v": base64.b64encode(value).decode()}
    if kind is complex:
        return {"$": "complex", "v": [value.real, value.imag]}
    raise BoundaryError(
        f"a value of type {kind.__name__} cannot be checked (only builtin data types)"
    )


def decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    kind = obj.get("$")
    items: Any = obj.get("v")
    if kind == "tuple":
        return tuple(decode(v) for v in items)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in items}
    if kind == "set":
        return {decode(v) for v in items}
    if kind == "frozenset":
        return frozenset(decode(v) for v in items)
    if kind == "bytes":
        return base64.b64decode(items)
    if kind == "complex":
        return complex(*items)
    if kind == "float":
        return float(items)
    raise BoundaryError("malformed value from the candidate")


def describe(exc: BaseException) -> str:
    if isinstance(exc, AssertionError) and exc.args:
        return "AssertionError: " + str(exc.args[0])[:2000]
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) raised"
    where = ""
    line = getattr(exc, "candidate_line", None)
    if type(line) is int:
        return f"{type(exc).__name__}: {str(exc)[:2000]} (line {line} of candidate)"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in ("<candidate>", "<test>"):
            where = f" (line {frame.lineno} of {frame.filename.strip('<>')})"
            break
    return f"{type(exc).__name__}: {str(exc)[:2000]}{where}"


CANONICAL_CAP = 4096


def canonical(value: Any) -> str:
    """A stable text form of a plain-data value, for comparing outputs.

    It reads like ``repr`` but sorts the items of sets and dicts by their own canonical
    forms, so equal forms mean equal values of equal types (``1``, ``1.0`` and ``True``
    differ; ``{1, 2}`` and ``{2, 1}`` do not). Only the exact types :func:`encode`
    accepts get here. Forms longer than ``CANONICAL_CAP`` become a digest.
    """
    text = _canonical(value)
    if len(text) > CANONICAL_CAP:
        import hashlib

        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def _canonical(value: Any) -> str:
    kind = type(value)
    if kind is list:
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    if kind is tuple:
        inner = ", ".join(_canonical(v) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if kind is dict:
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if kind in (set, frozenset):
        inner = ", ".join(sorted(_canonical(v) for v in value))
        if kind is frozenset:
            return "frozenset({" + inner + "})" if value else "frozenset()"
        return "{" + inner + "}" if value else "set()"
    return repr(value)  # None, bool, int, float, str, bytes, complex: repr is exact
