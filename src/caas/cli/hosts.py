"""``caas host``: compute hosts. ``add``, ``list`` and ``remove`` run on the controller and work
on its database directly (as ``caas credential-keys rotate`` does), whether or not ``caas up``
runs; ``join`` runs the compute agent on the new machine."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from caas.cli.common import fail as _fail, make_settings as _settings
from caas.config import default_data_dir

host_app = typer.Typer(help="Compute hosts: add one (a join token), join it from the new machine, list, remove.",
                       no_args_is_help=True)
DATA_DIR = typer.Option(None, "--data-dir", help="State directory [$CAAS_HOME or ~/.local/share/caas]")
DATABASE_URL = typer.Option(None, "--database-url", envvar="CAAS_DATABASE_URL", help="SQLAlchemy URL [sqlite in the data dir].")


def _service(data_dir: Optional[Path], database_url: Optional[str]):
    """The controller's HostService on its database (which must exist: ``caas up`` made it)."""
    from caas.db import Database, migrate
    from caas.hosts.service import HostService

    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser().resolve(), database_url=database_url,
                         driver="fake")
    if not settings.database_url and not (settings.data_dir / "caas.db").exists():
        _fail(f"no caas database in {settings.data_dir}; start the controller (caas up) first or give --data-dir")
    if not migrate.is_current(settings.db_url):
        _fail("the database is not up to date; start caas up once (it migrates it)")
    return settings, HostService(Database(settings.db_url), settings)


@host_app.command("add")
def add(name: str = typer.Argument(..., help="The new host's name (a DNS label)."),
        data_dir: Optional[Path] = DATA_DIR, database_url: Optional[str] = DATABASE_URL,
        url: Optional[str] = typer.Option(None, "--url", help="The controller's agent URL as the new machine "
                                          "reaches it [what caas up listens on: https://HOST:AGENT-PORT].")) -> None:
    """Print a one-time join token for host NAME (valid 1 h): run `caas host join TOKEN` on it."""
    from caas.errors import CaasError
    from caas.hosts import tls, tokens

    settings, hosts = _service(data_dir, database_url)
    cert, _ = tls.cert_paths(settings.data_dir)
    if not cert.exists() or not settings.agent_url_file.exists():
        _fail(f"the controller of {settings.data_dir} has not served its agent API yet; start caas up first")
    try:
        agent_url = tokens.check_url(url or settings.agent_url_file.read_text().strip())
        token = hosts.add(name, agent_url, tls.fingerprint_pem(cert.read_text()))
    except (CaasError, tokens.TokenError) as exc:
        _fail(getattr(exc, "message", str(exc)))
    finally:
        hosts.db.dispose()
    typer.echo(token)


@host_app.command("list")
def list_hosts(data_dir: Optional[Path] = DATA_DIR, database_url: Optional[str] = DATABASE_URL) -> None:
    """The compute hosts (the controller's own and the joined ones) and pending join tokens."""
    from caas.cli.output import render_table

    _, hosts = _service(data_dir, database_url)
    try:
        rows = hosts.list()
    finally:
        hosts.db.dispose()
    typer.echo(render_table(["Name", "Kind", "State", "Servers"], [(r.name, r.kind, r.state, r.servers) for r in rows]))


@host_app.command("remove")
def remove(name: str = typer.Argument(...), data_dir: Optional[Path] = DATA_DIR,
           database_url: Optional[str] = DATABASE_URL) -> None:
    """Remove a joined host (refused while it has servers; --evacuate is not there yet), or
    cancel its pending join token. Its agent's credential stops working."""
    from caas.errors import CaasError

    _, hosts = _service(data_dir, database_url)
    try:
        hosts.remove(name)
    except CaasError as exc:
        _fail(exc.message)
    finally:
        hosts.db.dispose()
    typer.echo(f"host {name} removed")


@host_app.command("join")
def join(token: Optional[str] = typer.Argument(None, help="The token of caas host add (not needed once joined)."),
         data_dir: Optional[Path] = DATA_DIR,
         driver: Optional[str] = typer.Option(None, "--driver", envvar="CAAS_DRIVER",
                                              help="This machine's driver: netns (as root) or fake."),
         name: Optional[str] = typer.Option(None, "--name", help="This host's name (must be the token's).")) -> None:
    """Run the compute agent of this machine in the foreground (SIGTERM or Ctrl-C stops it)."""
    from caas.hosts.agent import AgentError, run_agent

    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser().resolve(), driver=driver)
    try:
        run_agent(settings, token, name)
    except AgentError as exc:
        _fail(str(exc))
