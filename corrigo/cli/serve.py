"""``corrigo serve``: the HTTP API (and the web viewer) on uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from corrigo.cli.app import HomeOption, StoreOption, app, console_err, settings_for


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Runs executing at once (default: CORRIGO_SERVE_WORKERS, 2)."
    ),
    insecure_no_auth: bool = typer.Option(
        False,
        "--insecure-no-auth",
        help="Serve without tokens; refused unless --host is a loopback address.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="Where queued runs execute: local (this process) or ray (actors on a Ray "
        "cluster; this process only serves). Default: CORRIGO_SERVE_EXECUTOR, local.",
    ),
    ray: str | None = typer.Option(
        None, "--ray", metavar="ADDRESS", help="The Ray cluster for --executor ray (auto)."
    ),
    ray_actors: int | None = typer.Option(
        None, "--ray-actors", min=1, help="Ray actors, each running --workers runs at once."
    ),
) -> None:
    """Serve the HTTP API: queue runs, follow them as events, replay them.

    Tokens come from CORRIGO_API_TOKENS; suites and models a request may name from
    CORRIGO_SERVE_SUITES and CORRIGO_SERVE_MODELS (see the README's "Service" section).
    """
    from corrigo.errors import ConfigError, UsageError

    try:
        import uvicorn

        from corrigo.serve.app import create_app
        from corrigo.serve.config import ServeConfig
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"corrigo serve needs its extra ({exc.name} is missing): pip install 'corrigo[serve]'"
        ) from None
    settings = settings_for(store, home)
    config = ServeConfig.from_env(
        settings,
        workers=workers,
        insecure_no_auth=insecure_no_auth,
        executor=executor,
        ray_address=ray,
        ray_actors=ray_actors,
    )
    if insecure_no_auth:
        if config.tokens:
            raise UsageError("--insecure-no-auth with CORRIGO_API_TOKENS set: choose one")
        if not _loopback(host):
            raise UsageError(
                f"--insecure-no-auth only on a loopback address, not {host}: "
                "anyone who can reach the port could run code in the sandbox"
            )
        console_err.print("[yellow]warning:[/yellow] serving without tokens (loopback only)")
    elif not config.tokens:
        raise ConfigError(
            "corrigo serve needs at least one token in CORRIGO_API_TOKENS (comma-separated); "
            "for a quick local try, --insecure-no-auth on 127.0.0.1"
        )
    uvicorn.run(
        create_app(config, settings),
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
        # Event streams stay open: on shutdown give them this long, then close them.
        timeout_graceful_shutdown=5,
    )
