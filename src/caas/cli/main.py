"""``caas`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from caas.cli.clusters import cluster_app, node_app
from caas.cli.common import fail as _fail, make_settings as _settings
from caas.cli.hosts import host_app
from caas.cli.standalone import add_os_cloud, adopt
from caas.config import default_data_dir

app = typer.Typer(help="caas: Cluster as a Service on an embedded OpenStack-compatible cloud.",
                  no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="Token (Fernet) keys.", no_args_is_help=True)
app.add_typer(keys_app, name="token-keys")
credential_keys_app = typer.Typer(help="Credential keys (the Fernet keys of stored secrets).", no_args_is_help=True)
app.add_typer(credential_keys_app, name="credential-keys")
cluster_app.command("adopt")(adopt)
add_os_cloud(cluster_app, node_app)  # every cluster and node command takes --os-cloud NAME (no server)
app.add_typer(cluster_app, name="cluster")
app.add_typer(node_app, name="node")
app.add_typer(host_app, name="host")


@app.command()
def up(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="State directory [$CAAS_HOME or ~/.local/share/caas]"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on (0: any free port)."),
    agent_port: Optional[int] = typer.Option(None, "--agent-port", help="Port of the compute agents' API (TLS) "
                                             "[--port + 1; 0: any free port]."),
    agent_host: Optional[str] = typer.Option(None, "--agent-host", help="Address of the agents' API [--host]."),
    driver: Optional[str] = typer.Option(None, "--driver", envvar="CAAS_DRIVER",
                                         help="Hypervisor driver: netns (real containers; the default as root) or fake."),
    database_url: Optional[str] = typer.Option(None, "--database-url", envvar="CAAS_DATABASE_URL",
                                               help="SQLAlchemy URL [sqlite in the data dir]."),
    public_url: Optional[str] = typer.Option(None, "--public-url", help="Base URL for the catalog."),
    cloud: Optional[str] = typer.Option(None, "--cloud", help="Serve only clusters, as the Cluster-as-a-Service "
                                        "portal of this cloud of clouds.yaml (OS_CLIENT_CONFIG_FILE): no embedded "
                                        "cloud, its users and tokens."),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Run the cloud in the foreground (SIGTERM or Ctrl-C stops it); with --cloud, the portal of another."""
    from caas.server import StartupError, serve

    if cloud is not None and not cloud.strip():
        _fail("--cloud needs the name of a cloud of clouds.yaml")
    # a portal runs no instance: the driver (--driver, $CAAS_DRIVER) is not used
    portal = {"portal": True, "cluster_cloud": cloud, "driver": "fake"} if cloud else {"driver": driver}
    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser().resolve(), host=host, port=port,
                         database_url=database_url, public_url=public_url, agent_port=agent_port,
                         agent_host=agent_host, **portal)
    try:
        serve(settings, log_level=log_level)
    except StartupError as exc:
        _fail(str(exc))


@app.command()
def cleanup(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="State directory [$CAAS_HOME or ~/.local/share/caas]"),
    database_url: Optional[str] = typer.Option(None, "--database-url", envvar="CAAS_DATABASE_URL"),
    everything: bool = typer.Option(False, "--all", help="Remove every cs- object, owned or not (caas must be stopped)."),
) -> None:
    """Remove the containers, namespaces, links and nftables tables (names cs-...) that the
    database no longer owns; with --all, everything caas made on this machine."""
    from caas.server import StartupError, cleanup_kernel

    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser().resolve(), driver="netns",
                         database_url=database_url)
    try:
        removed = cleanup_kernel(settings, everything)
    except StartupError as exc:
        _fail(str(exc))
    for name in removed:
        typer.echo(f"removed {name}")
    typer.echo(f"{len(removed)} object(s) removed")


@keys_app.command("rotate")
def rotate_keys(data_dir: Optional[Path] = typer.Option(None, "--data-dir")) -> None:
    """Promote the staged key, stage a new one, drop the oldest. A running server picks the new
    keys up on restart; tokens made with any kept key keep validating."""
    from caas.identity.tokens import KeyRepository

    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser())
    repo = KeyRepository(settings.fernet_key_dir)
    primary = repo.rotate()
    typer.echo(f"primary key is now {primary}")


@credential_keys_app.command("rotate")
def rotate_credential_keys(data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
                           database_url: Optional[str] = typer.Option(None, "--database-url",
                                                                      envvar="CAAS_DATABASE_URL")) -> None:
    """Promote the staged credential key and re-encrypt every stored secret (credentials,
    OAuth1 secrets, sensitive domain options, clusters' application credentials) with it; a running server reads them at once."""
    from caas.clusters.models import ClusterCredential
    from caas.db import Database
    from caas.identity import secrets
    from caas.identity.tokens import KeyRepository

    settings = _settings(data_dir=(data_dir or default_data_dir()).expanduser(), database_url=database_url)
    db = Database(settings.db_url)
    try:
        primary, count = secrets.rotate(secrets.SecretBox(KeyRepository(settings.credential_key_dir)), db,
                                        more=((ClusterCredential, "encrypted_secret"),))
    finally:
        db.dispose()
    typer.echo(f"primary credential key is now {primary}; {count} secret(s) re-encrypted")


@app.command()
def version() -> None:
    """Print the version."""
    from caas import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
