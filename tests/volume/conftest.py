"""Fixtures of the block storage tests, one set per module (they share the module's server):
``member_a`` (a member of a new project, with unlimited volume quotas) and its client ``A``,
and ``B``, a member of another project."""

from __future__ import annotations

import pytest

from tests.conftest import client_for, make_member
from tests.volume import set_quota


@pytest.fixture(scope="module")
def member_a(server, admin):
    m = make_member(server, admin)
    set_quota(admin, m["project_id"], volumes=-1, gigabytes=-1)
    return m


@pytest.fixture(scope="module")
def A(server, member_a):
    with client_for(server, member_a["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def B(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        yield c
