"""The composition root of a portal: caas as the Cluster-as-a-Service service of an existing
OpenStack (``caas up --cloud NAME``), with no embedded cloud and no driver.

``Portal`` has what ``caas.api.app`` serves a portal with: the settings, the database (the
clusters' journal), the secret box (their application credentials' secrets), ``tokens`` (the
cloud's own Keystone tokens, ``identity.remote``) and ``clusters``, the same cluster service
as the embedded cloud's, its cloud being the clouds.yaml cloud ``settings.cluster_cloud``.

``check`` says, in one line, why the cloud cannot be worked with (``PortalError``): no such
cloud in clouds.yaml, its credentials refused, its Keystone unreachable, no network or compute
service in its catalog.
"""

from __future__ import annotations

import contextlib
import logging
import re

from caas.clusters.cloud import causes
from caas.clusters.service import ClusterService
from caas.config import Settings
from caas.db import Database
from caas.identity.remote import RemoteTokens
from caas.identity.secrets import SecretBox
from caas.identity.tokens import KeyRepository

# The services a cluster is made with, by catalog type, and what each is called in a message.
NEEDED = {"identity": "Identity (Keystone)", "compute": "Compute (Nova)", "network": "Network (Neutron)",
          "image": "Image (Glance)"}


class PortalError(Exception):
    """The cloud cannot be worked with; the message says why, in one line."""


class Portal:
    """The cluster service of one portal, built from its settings (``cluster_cloud`` set)."""

    embedded = False

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.secrets = SecretBox(KeyRepository(settings.credential_key_dir))
        self.clusters = ClusterService(self.db, settings, self.secrets)
        try:
            where = self.clusters.access.endpoint()
        except Exception as exc:  # noqa: BLE001 - no such cloud in clouds.yaml, or no auth_url in it
            raise PortalError(f"cannot work with cloud {settings.cluster_cloud!r}: {unknown_cloud(exc)}") from None
        self.tokens = RemoteTokens(where["auth_url"], where["verify"], where["region_name"], where["interface"],
                                   settings.portal_token_cache)

    def check(self) -> None:
        """Log in to the cloud with the operator's clouds.yaml entry and read its catalog:
        PortalError saying why when that fails or a needed service is missing."""
        try:
            with _quiet("keystoneauth", "openstack"):  # their warnings would make the error more lines
                conn = self.clusters.access.admin()
                conn.authorize()
            catalog = conn.session.auth.get_access(conn.session).service_catalog
            types = {entry.get("type") for entry in catalog.catalog}
        except Exception as exc:  # noqa: BLE001 - whatever failed is said, in one line
            self.clusters.access.close()
            raise PortalError(f"cannot work with cloud {self.settings.cluster_cloud!r} (Identity at "
                              f"{self.tokens.auth_url}): {explain(exc)}") from None
        missing = [label for kind, label in NEEDED.items() if kind not in types]
        if missing:
            raise PortalError(f"cloud {self.settings.cluster_cloud!r} has no {', '.join(missing)} service in its "
                              "catalog: clusters need it")

    def bootstrap(self) -> None:
        self.check()
        self.clusters.bootstrap()

    def shutdown(self) -> None:
        self.clusters.shutdown()
        self.tokens.close()
        self.db.dispose()


def explain(exc: Exception) -> str:
    """One line for a failure to reach or log in to a cloud. openstacksdk wraps keystoneauth's
    exceptions (SDKException from Unauthorized, DiscoveryFailure from ConnectFailure, ...): the
    chain is read for the one that says what happened, and for the socket's own reason."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    chain = causes(exc)
    found = {kind: next((e for e in chain if isinstance(e, kind)), None)
             for kind in (ks_exc.Unauthorized, ks_exc.SSLError, ks_exc.ConnectTimeout, ks_exc.ConnectFailure,
                          ks_exc.EndpointNotFound, sdk_exc.ConfigException, ks_exc.MissingRequiredOptions)}
    if found[ks_exc.Unauthorized] is not None or any(getattr(e, "http_status", None) == 401 for e in chain):
        words = _first_line(found[ks_exc.Unauthorized] or exc)
        return f"its Identity service refused the credentials (wrong user, password, project or domain?): {words}"
    if found[ks_exc.SSLError] is not None:
        return f"TLS failed ({_first_line(found[ks_exc.SSLError])}): check the cloud's cacert/verify in clouds.yaml"
    if found[ks_exc.ConnectTimeout] is not None:
        return "its Identity service did not answer in time"
    if found[ks_exc.ConnectFailure] is not None:
        reason = next((e.strerror for e in reversed(chain) if isinstance(e, OSError) and e.strerror), None)
        return f"its Identity service does not answer ({reason or _first_line(found[ks_exc.ConnectFailure])})"
    for kind in (sdk_exc.ConfigException, ks_exc.MissingRequiredOptions, ks_exc.EndpointNotFound):
        if found[kind] is not None:
            return _first_line(found[kind])
    odd = next((e for e in chain if isinstance(e, (ks_exc.DiscoveryFailure, ks_exc.InvalidResponse))), None)
    if odd is not None:  # something answers there, but not as Keystone v3 does
        return f"what answers at its auth_url is no Identity v3 service ({_first_line(odd)}): check auth_url"
    http = next((e for e in chain if isinstance(e, ks_exc.HttpError)), None)
    if http is not None:
        return f"its Identity service answered {_first_line(http)}"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def unknown_cloud(exc: Exception) -> str:
    """``explain``, saying which clouds.yaml was read when the cloud is not in it."""
    from openstack import exceptions as sdk_exc

    if isinstance(exc, sdk_exc.ConfigException) and "not found" in str(exc):
        import openstack.config

        read = openstack.config.OpenStackConfig().config_filename
        return f"no such cloud in {read or 'any clouds.yaml'} (OS_CLIENT_CONFIG_FILE names the file to read)"
    return explain(exc)


@contextlib.contextmanager
def _quiet(*loggers: str):
    """Only errors from ``loggers`` while the block runs."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    """The exception's text on one line, without the Request-ID a cloud's answer carries."""
    text = re.sub(r"\s*\(Request-ID: [^)]*\)", "", " ".join(str(exc).split()))
    return text[:300] or type(exc).__name__
