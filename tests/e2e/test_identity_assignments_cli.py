"""Groups, group/system/inherited role assignments, implied and domain-specific roles as the
real ``openstack`` CLI sends them (each kind of command once as a process, its repeats in the
test process: tests/e2e/osc.py's ``Sequence``), and as openstacksdk sends them."""

from __future__ import annotations

import uuid

import openstack
import pytest

from tests.e2e.osc import Sequence, requires_cli

pytestmark = requires_cli


def uniq(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_groups_and_assignments_through_the_cli(server, admin):
    seq, env = Sequence(), server.os_env()
    group, user, project, role = uniq("g"), uniq("u"), uniq("p"), uniq("r")
    # The user and the project as the API makes them (their commands have their own tests).
    admin.post("/identity/v3/users", json={"user": {"name": user, "password": "Secret_123"}}).raise_for_status()
    admin.post("/identity/v3/projects", json={"project": {"name": project}}).raise_for_status()
    assert seq.json(env, "group", "create", "--description", "d", group)["description"] == "d"
    seq(env, "group", "set", "--description", "e", group)
    assert seq.json(env, "group", "show", group)["description"] == "e"
    assert group in {g["Name"] for g in seq.json(env, "group", "list")}
    seq(env, "group", "add", "user", group, user)
    assert seq(env, "group", "contains", "user", group, user).stdout.strip() == f"{user} in group {group}"
    seq(env, "role", "add", "--group", group, "--project", project, "member")
    seq(env, "role", "add", "--user", user, "--system", "all", "reader")
    seq(env, "role", "add", "--user", user, "--domain", "default", "--inherited", "reader")
    rows = seq.json(env, "role", "assignment", "list", "--user", user, "--effective", "--names")
    assert {(r["Role"], r["Project"]) for r in rows if r["Project"]} >= {("member", f"{project}@Default"),
                                                                       ("reader", f"{project}@Default")}
    system = seq.json(env, "role", "assignment", "list", "--system", "all", "--names")
    assert ("reader", f"{user}@Default") in {(r["Role"], r["User"]) for r in system}
    rows = seq.json(env, "role", "assignment", "list", "--group", group, "--names")
    assert [(r["Role"], r["Group"]) for r in rows] == [("member", f"{group}@Default")]
    inherited = seq.json(env, "role", "assignment", "list", "--user", user, "--inherited")
    assert [r["Inherited"] for r in inherited] == [True]

    seq.json(env, "role", "create", role)
    seq.json(env, "role", "create", "--domain", "default", uniq("dr"))
    seq(env, "implied", "role", "create", "--implied-role", "reader", role)
    assert any(r["Prior Role Name"] == role for r in seq.json(env, "implied", "role", "list"))
    seq(env, "implied", "role", "delete", "--implied-role", "reader", role)

    seq(env, "role", "remove", "--group", group, "--project", project, "member")
    seq(env, "group", "remove", "user", group, user)
    out = seq(env, "group", "contains", "user", group, user, check=False)
    assert f"{user} not in group {group}" in out.stdout + out.stderr
    seq(env, "group", "delete", group)
    assert group not in {g["Name"] for g in seq.json(env, "group", "list")}


def test_groups_and_assignments_through_openstacksdk(server):
    conn = openstack.connect(auth_url=server.url + "/identity/v3", username="admin", password=server.admin_password,
                             project_name="admin", user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne", identity_api_version="3")
    ident = conn.identity
    group = ident.create_group(name=uniq("g"), domain_id="default")
    user = ident.create_user(name=uniq("u"), password="Secret_123", domain_id="default")
    project = ident.create_project(name=uniq("p"), domain_id="default")
    member, reader = ident.find_role("member"), ident.find_role("reader")
    ident.add_user_to_group(user, group)
    assert ident.check_user_in_group(user, group)
    assert [u.id for u in ident.group_users(group)] == [user.id]
    ident.assign_project_role_to_group(project, group, member)
    assert ident.validate_group_has_project_role(project, group, member)
    ident.assign_system_role_to_user(user, reader, "all")
    assert ident.validate_user_has_system_role(user, reader, "all")
    ident.assign_system_role_to_group(group, reader, "all")
    assert ident.validate_group_has_system_role(group, reader, "all")
    ident.unassign_system_role_from_group(group, reader, "all")
    effective = list(ident.role_assignments(user_id=user.id, effective=True))
    assert {(a.role["id"], a.scope.get("project", {}).get("id")) for a in effective} >= {
        (member.id, project.id), (reader.id, project.id)}
    mine = openstack.connect(auth_url=server.url + "/identity/v3", username=user.name, password="Secret_123",
                             system_scope="all", user_domain_name="Default", region_name="RegionOne",
                             identity_api_version="3")
    assert mine.auth_token and [u.id for u in mine.identity.users(name=user.name)] == [user.id]
    ident.unassign_system_role_from_user(user, reader, "all")
    assert not ident.validate_user_has_system_role(user, reader, "all")
    ident.unassign_project_role_from_group(project, group, member)
    ident.remove_user_from_group(user, group)
    assert not ident.check_user_in_group(user, group)
    ident.delete_group(group)
    with pytest.raises(openstack.exceptions.NotFoundException):
        ident.get_group(group.id)
