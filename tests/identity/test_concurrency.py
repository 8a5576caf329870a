"""Concurrent writes: the database decides, never a check-then-act race. Parallel creates of
one name give exactly one 201 and 409s for the rest; parallel grants and revocations leave a
consistent state; no request gives a 5xx (the server fixture checks at teardown)."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import client_for, issue_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent writes: the database decides

N = 12


def test_parallel_creates_of_one_name(server):
    token = issue_token(server)
    for kind in ("projects", "users", "roles"):
        name = f"race-{uuid.uuid4().hex[:8]}"
        key = kind[:-1]

        def create(_):
            with client_for(server, token) as c:
                return c.post(f"/identity/v3/{kind}", json={key: {"name": name}}).status_code

        with ThreadPoolExecutor(N) as pool:
            codes = sorted(pool.map(create, range(N)))
        assert codes == [201] + [409] * (N - 1), (kind, codes)
        with client_for(server, token) as c:
            assert len(c.get(f"/identity/v3/{kind}", params={"name": name}).json()[kind]) == 1


def test_parallel_grants_and_token_issues(server, admin):
    name = f"race-{uuid.uuid4().hex[:8]}"
    project = admin.post("/identity/v3/projects", json={"project": {"name": name}}).json()["project"]
    user = admin.post("/identity/v3/users", json={"user": {"name": name, "password": "pw"}}).json()["user"]
    role = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"][0]
    url = f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"
    token = issue_token(server)

    def grant(_):
        with client_for(server, token) as c:
            return c.put(url).status_code

    with ThreadPoolExecutor(N) as pool:
        assert set(pool.map(grant, range(N))) == {204}
    rows = admin.get("/identity/v3/role_assignments", params={"user.id": user["id"]}).json()["role_assignments"]
    assert len(rows) == 1

    def login(_):
        return issue_token(server, name, "pw", name)

    with ThreadPoolExecutor(4) as pool:
        tokens = list(pool.map(login, range(8)))
    assert len(set(tokens)) == 8
