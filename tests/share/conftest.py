"""Fixtures of the shared file system tests, one set per module (they share the module's
server): ``member_a`` and its client ``A``, and ``B``, a member of another project."""

from __future__ import annotations

import pytest

from tests.conftest import client_for, make_member


@pytest.fixture(scope="module")
def member_a(server, admin):
    return make_member(server, admin)


@pytest.fixture(scope="module")
def A(server, member_a):
    with client_for(server, member_a["token"]) as c:
        yield c


@pytest.fixture(scope="module")
def B(server, admin):
    m = make_member(server, admin)
    with client_for(server, m["token"]) as c:
        yield c
