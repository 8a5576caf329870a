"""The client of the cluster API (``/caas/v1``), as the ``caas cluster``/``caas node`` and
``os_cluster``/``os_node`` commands use it.

Authentication is openstacksdk's, exactly as the ``openstack`` CLI does it: ``OS_CLOUD`` and
clouds.yaml (``OS_CLIENT_CONFIG_FILE``), or the ``OS_*`` variables of a sourced openrc. The
endpoint is ``$CAAS_URL/caas/v1`` when ``CAAS_URL`` (the server's base URL) is set, else the
catalog's public ``caas`` endpoint. This module holds:

- ``ClientError``: the client could not make a call (no credentials, no endpoint, no server);
- ``ClusterAPIError``: the API answered with an error; its message, status and shortfalls;
- ``ClusterClient``: one method per REST call, each returning the decoded JSON body.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

API_PATH = "/caas/v1"
SERVICE_TYPE = "caas"


class ClientError(Exception):
    """No call could be made or completed: credentials, endpoint or transport."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClusterAPIError(ClientError):
    """The API refused a call. ``message`` is the API's own message; ``shortfalls`` the quota
    shortfalls of a 403 refusal (``[{"resource", "needed", "available", "message"}]``)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        shortfalls = error.get("shortfalls") if isinstance(error, dict) else None
        self.shortfalls: list[dict] = [s for s in shortfalls if isinstance(s, dict)] if isinstance(shortfalls, list) else []

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


def api_error(status: int, body: Any, text: str) -> ClusterAPIError:
    """The error for a non-2xx answer: the message of an ``{"error": {...}}`` body, else the
    body's text, else the status alone."""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = text.strip()[:500] or f"HTTP {status}"
    return ClusterAPIError(status, message, body)


def api_base(endpoint: str) -> str:
    """The API's base URL from a catalog or ``CAAS_URL`` value: the server's base URL
    (``http://h:8080``), the service root (``.../caas``) or the API itself (``.../caas/v1``)."""
    url = endpoint.rstrip("/")
    if url.endswith(API_PATH):
        return url
    if url.endswith("/caas"):
        return url + "/v1"
    return url + API_PATH


class ClusterClient:
    """The cluster API over a keystoneauth session (which adds ``X-Auth-Token``).

    ``ClusterClient.from_environment()`` is what the commands use; tests and other callers may
    pass their own session and endpoint."""

    def __init__(self, session: Any, endpoint: str, timeout: float = 60.0) -> None:
        self.session = session
        self.base = api_base(endpoint)
        self.timeout = timeout

    @classmethod
    def from_environment(cls, environ: dict | None = None) -> "ClusterClient":
        env = os.environ if environ is None else environ
        from keystoneauth1 import exceptions as ks_exc
        from openstack import exceptions as sdk_exc
        from openstack.config import OpenStackConfig

        try:
            cloud = OpenStackConfig().get_one(cloud=env.get("OS_CLOUD") or None)
            session = cloud.get_session()
            endpoint = env.get("CAAS_URL")
            if not endpoint:
                endpoint = session.get_endpoint(service_type=SERVICE_TYPE, interface="public",
                                                region_name=cloud.get_region_name() or None)
                if not endpoint:
                    raise ClientError(f"the service catalog has no public {SERVICE_TYPE!r} endpoint "
                                      "(set CAAS_URL to the server's base URL)")
        except ks_exc.MissingRequiredOptions as exc:
            raise ClientError(f"no cloud credentials ({exc}): set OS_CLOUD or source an openrc") from exc
        except ks_exc.EndpointNotFound as exc:
            raise ClientError(f"the service catalog has no public {SERVICE_TYPE!r} endpoint "
                              "(set CAAS_URL to the server's base URL)") from exc
        except (ks_exc.ClientException, sdk_exc.SDKException) as exc:
            raise ClientError(f"cannot authenticate: {exc}") from exc
        return cls(session, endpoint)

    # ---- transport ------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        """One call; the decoded JSON body of a 2xx answer (None when empty), else
        ClusterAPIError. Transport and authentication failures are ClientError."""
        from keystoneauth1 import exceptions as ks_exc

        kwargs: dict[str, Any] = {"raise_exc": False, "timeout": self.timeout,
                                  "headers": {"Accept": "application/json"}}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = params
        try:
            resp = self.session.request(self.base + path, method, **kwargs)
        except ks_exc.ClientException as exc:
            raise ClientError(f"{method} {self.base + path}: {exc}") from exc
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        if resp.status_code >= 400:
            raise api_error(resp.status_code, body, resp.text)
        return body

    def _answer(self, keys: tuple[str, ...], method: str, path: str, **kwargs: Any) -> dict:
        """A call's answer, which must hold one of ``keys``; ClientError if it holds none."""
        body = self.request(method, path, **kwargs)
        if not isinstance(body, dict) or not any(key in body for key in keys):
            raise ClientError(f"unexpected answer to {method} {self.base + path}: no {' or '.join(keys)} in it")
        return body

    def _field(self, key: str, method: str, path: str, **kwargs: Any) -> Any:
        return self._answer((key,), method, path, **kwargs)[key]

    @staticmethod
    def _ref(ref: str) -> str:
        return quote(ref, safe="")

    # ---- calls ----------------------------------------------------------------------------
    def version(self) -> dict:
        return self._field("version", "GET", "")

    def openapi(self) -> dict:
        return self.request("GET", "/openapi.json")

    def list_profiles(self) -> list[dict]:
        return self._field("profiles", "GET", "/profiles")

    def list_clusters(self, name: str | None = None, status: str | None = None,
                      all_projects: bool = False) -> list[dict]:
        params = {k: v for k, v in (("name", name), ("status", status)) if v}
        if all_projects:
            params["all_projects"] = "true"
        return self._field("clusters", "GET", "/clusters", params=params)

    def create_cluster(self, body: dict) -> dict:
        """POST a request body (see ``clusters.cluster_request``): the whole answer,
        ``{"cluster", "private_key"?}`` or, for a dry run, ``{"plan"}``."""
        return self._answer(("cluster", "plan"), "POST", "/clusters", json=body)

    def get_cluster(self, ref: str) -> dict:
        return self._field("cluster", "GET", f"/clusters/{self._ref(ref)}")

    def delete_cluster(self, ref: str) -> dict:
        return self._field("cluster", "DELETE", f"/clusters/{self._ref(ref)}")

    def list_events(self, ref: str, since: int | None = None) -> list[dict]:
        params = {"since": str(since)} if since is not None else None
        return self._field("events", "GET", f"/clusters/{self._ref(ref)}/events", params=params)

    def list_nodes(self, ref: str) -> list[dict]:
        return self._field("nodes", "GET", f"/clusters/{self._ref(ref)}/nodes")

    def add_nodes(self, ref: str, body: dict) -> dict:
        """POST a request body (see ``clusters.nodes_request``): ``{"cluster", "nodes"}``, the
        cluster as it is now and the names of the nodes being added."""
        return self._answer(("cluster",), "POST", f"/clusters/{self._ref(ref)}/nodes", json=body)

    def set_elastic(self, ref: str, body: dict) -> dict:
        """PUT an existing slurm cluster's elastic settings: ``{"cluster"}``."""
        return self._answer(("cluster",), "PUT", f"/clusters/{self._ref(ref)}/elastic", json=body)

    def remove_nodes(self, ref: str, names: str) -> dict:
        """DELETE the nodes a name or range expression names: ``{"cluster", "nodes"}``."""
        return self._answer(("cluster",), "DELETE", f"/clusters/{self._ref(ref)}/nodes/{self._ref(names)}")
