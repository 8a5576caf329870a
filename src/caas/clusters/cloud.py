"""How the cluster layer reaches a cloud: openstacksdk connections, and nothing else.

``CloudAccess`` holds one admin connection (a cloud of clouds.yaml, or this caas itself as its
admin), used only to read what a project cannot see (capacity), and makes the
connections that act in a cluster's project: one on the caller's own token while a request is
being answered (``user``), and one per cluster on its application credential for the work that
outlives the request (``credential``, cached; ``caas.clusters.credentials``). Nothing is made
in a user's project with an admin's rights.

Nothing here knows clusters: callers get openstacksdk ``Connection`` objects and the few
look-ups every step needs (by name or id, 404 as None).
"""

from __future__ import annotations

import functools
import logging
import re
import threading

from caas.config import Settings
from caas.errors import BadRequest, CaasError, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized

log = logging.getLogger("caas.clusters")

# Seconds a call to the cloud may take before it fails (openstacksdk's api_timeout): a cloud
# that is overloaded answers 503 within its own bounded queue; one that does not answer at all
# must not hold a cluster request, or a cluster worker, for ever.
API_TIMEOUT = 60
# Connections on callers' tokens kept for their next requests (each saves a token exchange).
USER_CONNECTIONS = 64


class CloudAccess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._admin = None
        self._credentials: dict[str, object] = {}
        self._users: dict[tuple[str, str], object] = {}  # insertion order: least recently used first
        self._where: dict | None = None

    def _connect(self, **scope):
        import openstack

        if self.settings.cluster_cloud:
            conn = openstack.connect(cloud=self.settings.cluster_cloud, api_timeout=API_TIMEOUT)
            return conn.connect_as(project_id=scope["project_id"]) if scope.get("project_id") else conn
        password = self.settings.admin_password_file.read_text().strip()
        return self._open("password", username="admin", password=password, user_domain_id="default",
                          project_name="admin", project_domain_id="default")

    def endpoint(self) -> dict:
        """Where the cloud's Keystone is (``auth_url``), the region and interface of its
        catalog, and how TLS is verified (``verify``: a CA file or a bool, as clouds.yaml's
        ``cacert``/``verify`` say). Read from clouds.yaml once."""
        if self._where is None:
            self._where = self._read_endpoint()
        return self._where

    def guest_auth_url(self) -> str:
        """The cloud's Keystone as the cloud's instances reach it: the embedded cloud's at its
        guest URL (``Settings.guest_url``), another cloud's at its clouds.yaml ``auth_url``."""
        if not self.settings.cluster_cloud:
            return self.settings.guest_url + "/identity/v3"
        return self.endpoint()["auth_url"].rstrip("/")

    def _read_endpoint(self) -> dict:
        if not self.settings.cluster_cloud:
            return {"auth_url": self.settings.base_url + "/identity/v3", "region_name": self.settings.region,
                    "interface": "public", "verify": True}
        import openstack.config

        region = openstack.config.OpenStackConfig().get_one(cloud=self.settings.cluster_cloud)
        verify = region.config.get("verify", True)
        if verify and region.config.get("cacert"):
            verify = region.config["cacert"]
        return {"auth_url": region.config["auth"]["auth_url"], "region_name": region.region_name,
                "interface": region.config.get("interface") or "public", "verify": verify}

    def _open(self, auth_type: str, **auth):
        """A connection to the cloud with ``auth`` (keystoneauth's plugin ``auth_type``)."""
        import openstack

        where = self.endpoint()
        return openstack.connect(auth_type=auth_type, auth={"auth_url": where["auth_url"], **auth},
                                 region_name=where["region_name"], interface=where["interface"],
                                 identity_api_version="3", compute_api_version="2", load_envvars=False,
                                 load_yaml_config=False, api_timeout=API_TIMEOUT, verify=where["verify"])

    def admin(self):
        with self._lock:
            if self._admin is None:
                self._admin = self._connect()
            return self._admin

    def user(self, token: str, project_id: str):
        """A connection on the caller's own token (scoped to ``project_id``, the cluster's):
        cached by both for the next requests of the same token (the last USER_CONNECTIONS kept)."""
        key = (token, project_id)
        with self._lock:
            conn = self._users.pop(key, None)
            if conn is not None:
                self._users[key] = conn  # the most recently used last
                return conn
        conn = self._on_token(token)
        with self._lock:
            conn = self._users.setdefault(key, conn)
            evicted = [self._users.pop(k) for k in list(self._users)[:max(0, len(self._users) - USER_CONNECTIONS)]]
        for old in evicted:
            old.close()
        return conn

    def _on_token(self, token: str):
        """A connection on ``token`` itself, as its Keystone validates it (its scope and
        catalog), never rescoped: a token from an application credential or a trust may not be
        exchanged for another (Keystone's 403 "rescoping a delegated token")."""
        import openstack.connection
        from keystoneauth1 import access, session
        from keystoneauth1.identity.access import AccessInfoPlugin

        where = self.endpoint()
        answer = session.Session(timeout=API_TIMEOUT, verify=where["verify"]).get(
            where["auth_url"] + "/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token},
            authenticated=False)
        plugin = AccessInfoPlugin(access.create(resp=answer), auth_url=where["auth_url"])
        return openstack.connection.Connection(
            session=session.Session(auth=plugin, timeout=API_TIMEOUT, verify=where["verify"]),
            region_name=where["region_name"],
            interface=where["interface"], identity_api_version="3", compute_api_version="2")

    def credential(self, cred_id: str, secret: str):
        """A connection on the application credential ``cred_id`` (cached by its id)."""
        with self._lock:
            conn = self._credentials.get(cred_id)
        if conn is not None:
            return conn
        conn = self._open("v3applicationcredential", application_credential_id=cred_id,
                          application_credential_secret=secret)
        with self._lock:
            return self._credentials.setdefault(cred_id, conn)

    def forget_user(self, token: str, project_id: str) -> None:
        """Drop the connection on a caller's token (it failed); the next call makes a new one."""
        with self._lock:
            conn = self._users.pop((token, project_id), None)
        if conn is not None:
            conn.close()

    def forget(self, cred_id: str) -> None:
        """Drop a credential's connection (it went bad, or is deleted); the next call makes a new one."""
        with self._lock:
            conn = self._credentials.pop(cred_id, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for c in [self._admin, *self._credentials.values(), *self._users.values()] if c is not None]
            self._admin, self._credentials, self._users = None, {}, {}
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def not_found(exc: Exception) -> bool:
    """Is ``exc`` the cloud's 404 (the resource is gone)?"""
    from openstack import exceptions

    return isinstance(exc, exceptions.NotFoundException)


def bad_request(exc: Exception) -> bool:
    """Is ``exc`` the cloud's 400 (it refused the request as malformed)?"""
    from openstack import exceptions

    return isinstance(exc, exceptions.BadRequestException)


def cloud_message(exc: Exception) -> str:
    """The cloud's own words for a failed call, short."""
    from openstack import exceptions

    if isinstance(exc, exceptions.HttpException):
        detail = exc.details or exc.message or str(exc)
        return f"{exc.status_code}: {detail}"[:500]
    return str(exc)[:500] or type(exc).__name__


def refusal(exc: Exception) -> CaasError | None:
    """The caas error for a call to the cloud that failed while a request was being answered:
    the cloud's 4xx in its own words with its status (401, 403, 404 and 409 as such, any other
    4xx as 400), 503 for its 5xx or a cloud that does not answer; None for what is no failure
    of the cloud's (a bug: the caller lets it through)."""
    from keystoneauth1 import exceptions as ks_exc
    from openstack import exceptions as sdk_exc

    status = getattr(exc, "status_code", None) if isinstance(exc, sdk_exc.HttpException) else None
    if isinstance(status, int) and 400 <= status < 500:
        kind = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}.get(status, BadRequest)
        return kind(f"The cloud refused: {' '.join(cloud_message(exc).split())}")
    if isinstance(exc, (sdk_exc.SDKException, ks_exc.ClientException)):
        return ServiceUnavailable(f"The cloud did not answer the cluster service: {unreachable(exc)}")
    return None


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first (openstacksdk wraps keystoneauth's
    exceptions, which wrap requests', which wrap the socket's)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 20:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def unreachable(exc: Exception) -> str:
    """A failed call to the cloud in a few words: for a connection that failed, where it was
    going and the socket's reason (``http://h:9292/v2/images: Connection refused``), not
    urllib3's paragraph; else the cloud's message on one line."""
    from keystoneauth1 import exceptions as ks_exc

    chain = causes(exc)
    failed = next((e for e in chain if isinstance(e, (ks_exc.ConnectFailure, ks_exc.ConnectTimeout))), None)
    if failed is not None:
        where = re.match(r"Unable to establish connection to (\S+?):? ", str(failed) + " ")
        reason = next((e.strerror for e in reversed(chain) if isinstance(e, OSError) and e.strerror), None)
        if isinstance(failed, ks_exc.ConnectTimeout):
            reason = "timed out"
        if where and reason:
            return f"{where.group(1)}: {reason}"
    return " ".join(cloud_message(exc).split())


def answers(fn):
    """``fn``, a call of the cluster service that answers a request, with the cloud's failures
    as caas errors (``refusal``): a 4xx or 503 in the API's format, never a 500."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CaasError:
            raise
        except Exception as exc:  # noqa: BLE001 - the cloud's failures are said; anything else is raised as is
            error = refusal(exc)
            if error is None:
                raise
            raise error from None
    return call


def flavor_id(conn, ref: str) -> str | None:
    """The id of the flavor ``ref`` names among those the caller lists: the one whose id is
    ``ref``, else the one named ``ref`` (Nova keeps flavor names unique); None when none is.
    The list is openstacksdk's (``get_flavor``, ``find_flavor``): ``is_public=None``, every
    flavor for an admin (private ones of other projects too), and for anyone else the public
    ones and the private ones their project may use. Read from the flavor summaries as JSON,
    with no SDK object per flavor (``find_flavor`` builds one for each flavor of the cloud,
    with every detail, for each lookup by name)."""
    from openstack import exceptions

    response = conn.compute.get("/flavors", params={"is_public": "None"})
    exceptions.raise_from_response(response)
    flavors = response.json().get("flavors", [])
    if any(f.get("id") == ref for f in flavors):
        return ref
    return next((f["id"] for f in flavors if f.get("name") == ref), None)
