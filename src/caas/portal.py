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
            raise PortalError(f"cannot work with cloud {settings.cluster_cloud!r}: {explain(exc)}") from None
        self.tokens = RemoteTokens(where["auth_url"], where["verify"], where["region_name"], where["interface"],
                                   settings.portal_token_cache)

    def check(self) -> None:
        """Log in to the cloud with the operator's clouds.yaml entry and read its catalog:
        PortalError saying why when that fails or a needed service is missing."""
        try:
            conn = self.clusters.access.admin()
            conn.authorize()
            catalog = conn.session.auth.get_access(conn.session).service_catalog
            types = {entry.get("type") for entry in catalog.catalog}
        except PortalError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed is said, in one line
            self.clusters.access.close()
            raise PortalError(f"cannot work with cloud {self.settings.cluster_cloud!r}: {explain(exc)}") from None
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
    """One line for a failure to reach or log in to a cloud (keystoneauth's and openstacksdk's
    exceptions say it at length)."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    # openstacksdk's authorize() raises its own SDKException from keystoneauth's, and
    # keystoneauth's discovery a DiscoveryFailure from the connection's failure: the first of
    # the chain that says why is the one said
    chain, link = [], exc
    while link is not None and len(chain) < 10:
        chain.append(link)
        link = link.__cause__ or link.__context__
    telling = (ks_exc.Unauthorized, ks_exc.ConnectFailure, ks_exc.ConnectTimeout, ks_exc.SSLError)
    exc = next((e for e in chain if isinstance(e, telling)), exc)
    if isinstance(exc, ks_exc.Unauthorized) or getattr(exc, "http_status", None) == 401:
        return "its Identity service refused the credentials (wrong user, password, project or domain)"
    if isinstance(exc, ks_exc.ConnectFailure):
        return f"its Identity service does not answer ({_first_line(exc)})"
    if isinstance(exc, ks_exc.ConnectTimeout):
        return "its Identity service did not answer in time"
    if isinstance(exc, ks_exc.SSLError):
        return f"TLS failed ({_first_line(exc)}): check the cloud's cacert/verify in clouds.yaml"
    if isinstance(exc, (sdk_exc.ConfigException, ks_exc.MissingRequiredOptions)):
        return _first_line(exc)
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
