#!/usr/bin/env python3
"""The identity policy matrix (tests/identity/test_policy_matrix.py's ``ROWS`` and ``World``)
against the Keystone anchor: prints each call where a persona's answer differs from the row's
expected status, and their count (the test holds caas to the same rows).

Everything it makes is in one new domain, plus a few global roles and disabled domains, all
removed at the end (implied-role rules first: Keystone leaves rules naming a deleted role
behind, and its /v3/role_inferences then fails for good).

    python bench/keystone_policy_matrix.py     # the anchor at http://127.0.0.1:5000, admin/secret
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.identity import test_policy_matrix as M  # noqa: E402 - after the path

KEYSTONE = "http://127.0.0.1:5000"
ADMIN = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}


# what a 201 at each path created, and how to delete it
MADE = {"/v3/roles": "role", "/v3/domains": "domain", "/v3/services": "service", "/v3/endpoints": "endpoint",
        "/v3/regions": "region", "/v3/OS-EP-FILTER/endpoint_groups": "endpoint_group",
        "/v3/OS-OAUTH1/consumers": "consumer", "/v3/credentials": "credential", "/v3/OS-TRUST/trusts": "trust"}
COLLECTION = {"endpoint_group": "/v3/OS-EP-FILTER/endpoint_groups", "consumer": "/v3/OS-OAUTH1/consumers",
              "trust": "/v3/OS-TRUST/trusts"}


class Recorder:
    """Clients of the anchor that remember the global objects they create (roles, domains, the
    catalog's, endpoint groups, consumers, credentials, trusts; a region also by PUT)."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []

    def hook(self, resp: httpx.Response) -> None:
        path, method = resp.request.url.path, resp.request.method
        if resp.status_code != 201:
            return
        if method == "POST" and path in MADE:
            resp.read()
            kind = MADE[path]
            self.created.append((kind, resp.json()[kind]["id"]))
        elif method == "POST" and path.endswith("/application_credentials"):
            resp.read()
            self.created.append(("app_cred", path.split("/")[3] + " " + resp.json()["application_credential"]["id"]))
        elif method == "PUT" and path.startswith("/v3/regions/"):
            self.created.append(("region", path.rsplit("/", 1)[1]))

    def client(self, token: str | None = None) -> httpx.Client:
        # No keep-alive: the anchor's uWSGI follows some 204s with a stray chunk end.
        return httpx.Client(base_url=KEYSTONE, timeout=60, limits=httpx.Limits(max_keepalive_connections=0),
                            headers={"X-Auth-Token": token} if token else {}, event_hooks={"response": [self.hook]})

    def clean(self, admin: httpx.Client, system: httpx.Client) -> list[str]:
        """Deletes what was made, newest first (``system``: a system admin's client, who alone
        deletes another user's access rules); returns what could not be deleted."""
        roles = [id_ for kind, id_ in self.created if kind == "role"]
        for role in roles:
            for implied in admin.get(f"/v3/roles/{role}/implies").json().get("role_inference", {}).get("implies", []):
                admin.delete(f"/v3/roles/{role}/implies/{implied['id']}")
        left = []
        for kind, id_ in reversed(self.created):
            if kind == "app_cred":  # its access rules too (Keystone keeps them after their user)
                user, cred = id_.split()
                system.delete(f"/v3/users/{user}/application_credentials/{cred}")
                for rule in system.get(f"/v3/users/{user}/access_rules").json().get("access_rules", []):
                    system.delete(f"/v3/users/{user}/access_rules/{rule['id']}")
                continue
            if kind == "domain":
                admin.patch(f"/v3/domains/{id_}", json={"domain": {"enabled": False}})
            status = admin.delete(f"{COLLECTION.get(kind, f'/v3/{kind}s')}/{id_}").status_code
            if status not in (204, 404):
                left.append(f"{kind} {id_}: {status}")
        return left


def main() -> None:
    rec = Recorder()
    anonymous = rec.client()

    def token(body: dict) -> str:
        r = anonymous.post("/v3/auth/tokens", json=body)
        if r.status_code != 201:
            raise SystemExit(f"token: {r.status_code} {r.text[:300]}")
        return r.headers["X-Subject-Token"]

    admin = rec.client(token(ADMIN))
    world = M.World(admin, "/v3", token)
    differences = 0
    try:
        for name, row in M.ROWS.items():
            got = {p: world.answer(anonymous, row, p) for p in M.PERSONAS}
            wrong = {p: f"keystone {got[p]}, row {row.expected(p)}" for p in M.PERSONAS if got[p] != row.expected(p)}
            if wrong and name in M.DELIBERATE:
                print(f"deliberate {name}: {wrong}")
            elif wrong:
                differences += 1
                print(f"DIFF {name}: {wrong}")
                answers = sorted({got[p] for p in M.PERSONAS} - {403})
                print(f"  anchor allows: {' '.join(p for p in M.PERSONAS if got[p] != 403)!r} with {answers}")
    finally:
        system = rec.client(token({"auth": {**ADMIN["auth"], "scope": {"system": {"all": True}}}}))
        for left in rec.clean(admin, system):
            print(f"NOT CLEANED {left}")
    print(f"{len(M.ROWS)} calls, {differences} differing from the rows")


if __name__ == "__main__":
    main()
