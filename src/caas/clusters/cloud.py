"""How the cluster layer reaches a cloud: openstacksdk connections, and nothing else.

``CloudAccess`` holds one admin connection (a cloud of clouds.yaml, or this caas itself as its
admin) and, per project, a connection scoped to that project: the cluster layer acts in the
cluster's project as a member, as a user would. It grants its own user the ``member`` role on
a project the first time it works there (an admin may; it is idempotent).

Nothing here knows clusters: callers get openstacksdk ``Connection`` objects and the few
look-ups every step needs (by name or id, 404 as None).
"""

from __future__ import annotations

import logging
import threading

from caas.config import Settings

log = logging.getLogger("caas.clusters")

MEMBER_ROLE = "member"
# Seconds a call to the cloud may take before it fails (openstacksdk's api_timeout): a cloud
# that is overloaded answers 503 within its own bounded queue; one that does not answer at all
# must not hold a cluster request, or a cluster worker, for ever.
API_TIMEOUT = 60


class CloudAccess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._admin = None
        self._projects: dict[str, object] = {}

    def _connect(self, **scope):
        import openstack

        if self.settings.cluster_cloud:
            conn = openstack.connect(cloud=self.settings.cluster_cloud, api_timeout=API_TIMEOUT)
            return conn.connect_as(project_id=scope["project_id"]) if scope.get("project_id") else conn
        password = self.settings.admin_password_file.read_text().strip()
        auth = {"auth_url": self.settings.base_url + "/identity/v3", "username": "admin", "password": password,
                "user_domain_id": "default"}
        if scope.get("project_id"):
            auth["project_id"] = scope["project_id"]
        else:
            auth.update(project_name="admin", project_domain_id="default")
        return openstack.connect(auth=auth, region_name=self.settings.region, interface="public",
                                 identity_api_version="3", compute_api_version="2", load_envvars=False,
                                 load_yaml_config=False, api_timeout=API_TIMEOUT)

    def admin(self):
        with self._lock:
            if self._admin is None:
                self._admin = self._connect()
            return self._admin

    def project(self, project_id: str):
        """A connection scoped to ``project_id`` (cached), as a member of it."""
        with self._lock:
            conn = self._projects.get(project_id)
        if conn is not None:
            return conn
        admin = self.admin()
        user_id = admin.current_user_id
        role = admin.identity.find_role(MEMBER_ROLE, ignore_missing=False)
        admin.identity.assign_project_role_to_user(project_id, user_id, role)
        conn = self._connect(project_id=project_id)
        with self._lock:
            return self._projects.setdefault(project_id, conn)

    def forget(self, project_id: str) -> None:
        """Drop a project's connection (its token went bad, say); the next call makes a new one."""
        with self._lock:
            self._projects.pop(project_id, None)

    def close(self) -> None:
        with self._lock:
            conns = [c for c in [self._admin, *self._projects.values()] if c is not None]
            self._admin, self._projects = None, {}
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


def flavor_id(conn, ref: str) -> str | None:
    """The id of the flavor ``ref`` names among those the caller lists: the one whose id is
    ``ref``, else the one named ``ref`` (Nova keeps flavor names unique); None when none is.
    Read from the flavor summaries as JSON, with no SDK object per flavor (openstacksdk's
    ``find_flavor`` builds one for each flavor of the cloud, with every detail, for each
    lookup by name)."""
    from openstack import exceptions

    response = conn.compute.get("/flavors")
    exceptions.raise_from_response(response)
    flavors = response.json().get("flavors", [])
    if any(f.get("id") == ref for f in flavors):
        return ref
    return next((f["id"] for f in flavors if f.get("name") == ref), None)
