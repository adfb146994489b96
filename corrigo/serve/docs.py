"""``/docs``: the OpenAPI schema as a plain HTML page, readable offline.

FastAPI's Swagger UI loads its script and styles from a CDN, which a machine without
internet cannot reach (a blank page). This page is rendered on the server from the same
schema as ``/openapi.json``: every operation with its parameters, body and responses,
then every schema's fields. No script; all text escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = (
    "body{font:14px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em}"
    "code,.m{font-family:ui-monospace,monospace}.m{display:inline-block;min-width:4.5em;"
    "font-weight:bold}table{border-collapse:collapse;margin:.3em 0 1em}td,th{border:1px solid "
    "#ccc;padding:2px 8px;text-align:left;vertical-align:top}h3{margin:1.4em 0 .2em}"
)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list[{_type(schema.get('items') or {})}]"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    return str(schema.get("type", "any"))


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render(schema: dict[str, Any]) -> str:
    info = schema.get("info") or {}
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(str(info.get('title', 'API')))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(str(info.get('title', 'API')))} "
        f"<small>{escape(str(info.get('version', '')))}</small></h1>",
        "<p>The machine-readable schema is at <a href='/openapi.json'>/openapi.json</a>. "
        "Every route but <code>/v1/health</code> needs <code>Authorization: Bearer "
        "TOKEN</code>.</p>",
    ]
    for path, operations in (schema.get("paths") or {}).items():
        for method, op in operations.items():
            out.append(
                f"<h3><span class='m'>{escape(method.upper())}</span> <code>{escape(path)}</code>"
                f"</h3><p>{escape(str(op.get('summary') or ''))}</p>"
            )
            description = op.get("description")
            if description:
                out.append(f"<p>{escape(str(description))}</p>")
            params = op.get("parameters") or []
            if params:
                out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>")
                for p in params:
                    required = "required" if p.get("required") else ""
                    out.append(
                        _row(
                            f"<code>{escape(str(p.get('name')))}</code>",
                            escape(str(p.get("in"))),
                            escape(_type(p.get("schema") or {})),
                            required,
                        )
                    )
                out.append("</table>")
            body = ((op.get("requestBody") or {}).get("content") or {}).get("application/json")
            if body:
                out.append(f"<p>body: <code>{escape(_type(body.get('schema') or {}))}</code></p>")
            responses = op.get("responses") or {}
            if responses:
                out.append("<table><tr><th>status</th><th>meaning</th></tr>")
                for code, response in responses.items():
                    out.append(
                        _row(escape(str(code)), escape(str(response.get("description", ""))))
                    )
                out.append("</table>")
    models = (schema.get("components") or {}).get("schemas") or {}
    if models:
        out.append("<h2>Schemas</h2>")
    for name, model in models.items():
        out.append(f"<h3><code>{escape(name)}</code></h3>")
        props = model.get("properties") or {}
        needed = set(model.get("required") or [])
        if props:
            out.append("<table><tr><th>field</th><th>type</th><th></th></tr>")
            for field, spec in props.items():
                out.append(
                    _row(
                        f"<code>{escape(field)}</code>",
                        escape(_type(spec)),
                        "required" if field in needed else "",
                    )
                )
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)
