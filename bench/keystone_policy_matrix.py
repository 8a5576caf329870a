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


class Recorder:
    """Clients of the anchor that remember the global roles and domains they create."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []

    def hook(self, resp: httpx.Response) -> None:
        path = resp.request.url.path
        if resp.request.method == "POST" and resp.status_code == 201 and path in ("/v3/roles", "/v3/domains"):
            resp.read()
            kind = path.rsplit("/", 1)[1][:-1]
            self.created.append((kind, resp.json()[kind]["id"]))

    def client(self, token: str | None = None) -> httpx.Client:
        # No keep-alive: the anchor's uWSGI follows some 204s with a stray chunk end.
        return httpx.Client(base_url=KEYSTONE, timeout=60, limits=httpx.Limits(max_keepalive_connections=0),
                            headers={"X-Auth-Token": token} if token else {}, event_hooks={"response": [self.hook]})

    def clean(self, admin: httpx.Client) -> None:
        roles = [id_ for kind, id_ in self.created if kind == "role"]
        for role in roles:
            for implied in admin.get(f"/v3/roles/{role}/implies").json().get("role_inference", {}).get("implies", []):
                admin.delete(f"/v3/roles/{role}/implies/{implied['id']}")
        for kind, id_ in reversed(self.created):
            if kind == "domain":
                admin.patch(f"/v3/domains/{id_}", json={"domain": {"enabled": False}})
            admin.delete(f"/v3/{kind}s/{id_}")


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
            if wrong:
                differences += 1
                print(f"DIFF {name}: {wrong}")
    finally:
        rec.clean(admin)
    print(f"{len(M.ROWS)} calls, {differences} differing from the rows")


if __name__ == "__main__":
    main()
