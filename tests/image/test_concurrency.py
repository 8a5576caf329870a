"""Concurrent writes to one image: patches of different properties all land (none overwrites
another), the same tag added at once is one tag, and of several uploads started together
exactly one wins (the others are 409)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import client_for, issue_token
from tests.image.conftest import OCTET, PATCH, V2, create, show

pytestmark = pytest.mark.backends("sqlite", "postgresql")  # concurrent writes: the database decides

N = 8


def _parallel(server, fn, n: int = N) -> list:
    token = issue_token(server)

    def run(i):
        with client_for(server, token) as c:
            return fn(c, i)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_parallel_patches_all_apply(server, admin):
    iid = create(admin)["id"]
    codes = _parallel(server, lambda c, i: c.patch(f"{V2}/images/{iid}", headers=PATCH, json=[
        {"op": "add", "path": f"/p{i}", "value": str(i)}]).status_code)
    assert codes == [200] * N
    got = show(admin, iid)
    assert {f"p{i}": str(i) for i in range(N)}.items() <= got.items()


def test_parallel_same_tag_is_one_tag(server, admin):
    iid = create(admin)["id"]
    codes = _parallel(server, lambda c, i: c.put(f"{V2}/images/{iid}/tags/same").status_code)
    assert codes == [204] * N
    assert show(admin, iid)["tags"] == ["same"]


def test_parallel_uploads_one_wins(server, admin):
    iid = create(admin)["id"]
    codes = _parallel(server, lambda c, i: c.put(f"{V2}/images/{iid}/file", content=bytes([i]) * 200_000,
                                                  headers=OCTET).status_code)
    assert sorted(codes) == [204] + [409] * (N - 1), codes
    got = show(admin, iid)
    data = admin.get(f"{V2}/images/{iid}/file").content
    assert got["status"] == "active" and len(data) == 200_000 and len(set(data)) == 1
