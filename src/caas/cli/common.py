"""What every ``caas`` command shares: failing with a message, and settings from options."""

from __future__ import annotations

import typer

from caas.config import Settings


def fail(message: str) -> None:
    """Say ``caas: error: MESSAGE`` on stderr and exit 1."""
    typer.echo(f"caas: error: {message}", err=True)
    raise typer.Exit(code=1)


def make_settings(**kw) -> Settings:
    """Settings from the options given (None: the default), or fail saying what is wrong."""
    try:
        return Settings(**{k: v for k, v in kw.items() if v is not None})
    except ValueError as exc:
        fail(str(exc))
