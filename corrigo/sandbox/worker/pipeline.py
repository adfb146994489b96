"""Pipelined calls: the calls a test will make, known before it runs.

Each call of the candidate is a round trip between the tester and the candidate
process, and on a virtual machine every wake-up on the way costs more than the call. For
tests shaped like HumanEval's — straight-line ``assert`` statements whose calls of the
entry point take literal arguments, at top level or in a ``check(candidate)`` function
called once with the entry point — the order of the calls is fixed by the text, so the
tester sends them all at once and the candidate answers them in order while the test
runs. Anything else (loops, branches, other calls, assignments) is run call by call.

The test still runs unchanged in the tester, and each proxy call must match the next
planned call exactly; a call that does not is a sandbox error, never a verdict. A test
that stops early (a failed assertion, a raised exception) just leaves answers unread in
a candidate process that is discarded with it.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

MAX_CALLS = 64
MAX_BYTES = 32 * 1024  # the planned requests must fit a pipe's buffer with room to spare
# Builtins a planned assertion may apply to returned values (pure on plain data).
PURE = frozenset(
    {"abs", "round", "len", "sorted", "set", "frozenset", "list", "tuple", "dict", "sum",
     "min", "max", "all", "any", "str", "int", "float", "bool", "isinstance", "type"}
)  # fmt: skip

Call = tuple[tuple, dict]


class _NotConstant(Exception):
    pass


_BINARY: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}  # fmt: skip
_UNARY: dict[type, Any] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}  # fmt: skip
_BIG = 1_000_000  # items or bits: beyond this an argument is not built ahead of need


def _value(node: ast.AST) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Set):
        return {_value(e) for e in node.elts}
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        _check_size(node.op, left, right)
        return _BINARY[type(node.op)](left, right)
    raise _NotConstant


def _check_size(op: ast.operator, left: object, right: object) -> None:
    for seq, n in ((left, right), (right, left)):
        if (
            isinstance(op, ast.Mult)
            and isinstance(seq, str | bytes | list | tuple)
            and type(n) is int
            and len(seq) * n > _BIG
        ):
            raise _NotConstant
    if (
        isinstance(op, ast.Pow)
        and type(left) is int
        and type(right) is int
        and (right > _BIG or left.bit_length() * right > _BIG)
    ):
        raise _NotConstant
    if isinstance(op, ast.LShift) and type(right) is int and right > _BIG:
        raise _NotConstant


def _constant(node: ast.expr) -> object:
    """The value of an argument built from literals and operators only (``5 * 17``,
    ``'ab' + 'c'``): no names, calls or attributes, so it means the same wherever it is
    evaluated (the test evaluates it again when it runs, in this same process), and
    nothing too large to build before the test asks for it."""
    try:
        return _value(node)
    except _NotConstant:
        raise
    except Exception:
        raise _NotConstant from None


def _calls_in(node: ast.AST, target: str, out: list[Call]) -> bool:
    """Append ``target``'s calls in ``node`` in evaluation order; False if unplannable."""
    if isinstance(node, ast.BoolOp | ast.IfExp | ast.Lambda | ast.NamedExpr):
        return False  # short-circuits and new scopes make the order depend on values
    if isinstance(node, ast.Compare) and len(node.ops) > 1 and _has_call(node):
        return False  # a chained comparison stops at its first false link
    if isinstance(node, ast.Dict) and _has_call(node):
        return False  # a dict display runs key, value, key, value: not the field order
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return False
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == target:
            if any(k.arg is None for k in node.keywords):
                return False
            try:
                args = tuple(_constant(a) for a in node.args)
                kwargs = {k.arg: _constant(k.value) for k in node.keywords if k.arg}
            except _NotConstant:
                return False
            out.append((args, kwargs))
            return True
        if not (isinstance(func, ast.Name) and func.id in PURE):
            return False
    return all(_calls_in(child, target, out) for child in ast.iter_child_nodes(node))


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _asserts(body: list[ast.stmt], target: str, out: list[Call]) -> bool:
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if not isinstance(statement, ast.Assert) or statement.msg is not None:
            return False
        if not _calls_in(statement.test, target, out):
            return False
    return True


def plan_calls(code: str, entry_point: str) -> list[Call] | None:
    """The entry point's calls, in order, if the test's text fixes them; else None."""
    try:
        module = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    calls: list[Call] = []
    checks: dict[str, ast.FunctionDef] = {}
    invoked = False
    for statement in module.body:
        if isinstance(statement, ast.FunctionDef):
            params = statement.args
            if (
                statement.decorator_list
                or len(params.args) != 1
                or params.vararg
                or params.kwarg
                or params.kwonlyargs
                or params.posonlyargs
                or params.defaults
            ):
                return None
            checks[statement.name] = statement
        elif isinstance(statement, ast.Assign):
            if not all(isinstance(t, ast.Name) for t in statement.targets):
                return None
            if statement.targets[0].id in (entry_point, *checks):  # type: ignore[attr-defined]
                return None
            try:
                ast.literal_eval(statement.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                return None
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            if any((a.asname or a.name) in (entry_point, *checks) for a in statement.names):
                return None
        elif isinstance(statement, ast.Assert):
            if not _asserts([statement], entry_point, calls):
                return None
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            call = statement.value
            func = call.func
            if not (
                not invoked
                and isinstance(func, ast.Name)
                and func.id in checks
                and len(call.args) == 1
                and not call.keywords
                and isinstance(call.args[0], ast.Name)
                and call.args[0].id == entry_point
            ):
                return None
            invoked = True
            check = checks[func.id]
            if not _asserts(check.body, check.args.args[0].arg, calls):
                return None
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        else:
            return None
    if not calls or len(calls) > MAX_CALLS:
        return None
    return calls
