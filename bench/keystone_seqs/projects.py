"""Nested projects (parent_id, subtree/parents as lists and ids, the cascade rules, the
hierarchy's depth, projects acting as domains) and project tags (the tag calls, tags on create
and update, the tag filters, Keystone's tag validation)."""


def _tree(api) -> tuple[str, str, str, str]:
    call = api.call
    p = "/v3/projects"
    dom = call("create domain", "POST", "/v3/domains", {"domain": {"name": api.name("pdom")}})["domain"]["id"]
    a = call("create top project with tags", "POST", p,
             {"project": {"name": api.name("a"), "tags": ["t1", "t2"]}})["project"]["id"]
    b = call("create child", "POST", p, {"project": {"name": api.name("b"), "parent_id": a, "tags": ["t2"]}})["project"]["id"]
    c = call("create grandchild", "POST", p, {"project": {"name": api.name("c"), "parent_id": b}})["project"]["id"]
    call("create under unknown parent", "POST", p, {"project": {"name": api.name("x"), "parent_id": "nope"}})
    call("create under parent in another domain", "POST", p,
         {"project": {"name": api.name("x"), "parent_id": a, "domain_id": dom}})
    call("create under a domain as parent, other domain_id", "POST", p,
         {"project": {"name": api.name("y"), "parent_id": dom, "domain_id": "default"}})
    call("create under a domain as parent, no domain_id", "POST", p,
         {"project": {"name": api.name("y"), "parent_id": dom}})
    d = call("create under a domain as parent", "POST", p,
             {"project": {"name": api.name("d"), "parent_id": dom, "domain_id": dom}})["project"]["id"]
    call("create in unknown domain", "POST", p, {"project": {"name": api.name("z"), "domain_id": "nope"}})
    call("create with tags wrong type", "POST", p, {"project": {"name": api.name("z"), "tags": "t"}})
    call("create with a bad tag", "POST", p, {"project": {"name": api.name("z"), "tags": ["a/b"]}})
    return dom, a, b, c, d


def _hierarchy(api, a: str, b: str, c: str) -> None:
    call = api.call
    p = "/v3/projects"
    call("subtree as ids", "GET", f"{p}/{a}?subtree_as_ids")
    call("parents as ids", "GET", f"{p}/{c}?parents_as_ids")
    call("subtree as list (no roles below)", "GET", f"{p}/{a}?subtree_as_list")
    call("subtree as list and ids", "GET", f"{p}/{a}?subtree_as_list&subtree_as_ids")
    call("parents as list and subtree as list", "GET", f"{p}/{c}?parents_as_list&subtree_as_list")
    role = call("create role", "POST", "/v3/roles", {"role": {"name": api.name("prole")}})["role"]["id"]
    call("grant admin a role on the child", "PUT", f"{p}/{b}/users/{api.admin_user_id}/roles/{role}")
    call("subtree as list", "GET", f"{p}/{a}?subtree_as_list")
    call("parents as list", "GET", f"{p}/{c}?parents_as_list")
    call("list children", "GET", f"{p}?parent_id={a}")
    call("list by parent not a uuid", "GET", f"{p}?parent_id=nope")
    call("delete project with children", "DELETE", f"{p}/{a}")
    call("disable parent of enabled projects", "PATCH", f"{p}/{a}", {"project": {"enabled": False}})
    call("disable grandchild", "PATCH", f"{p}/{c}", {"project": {"enabled": False}})
    call("disable child", "PATCH", f"{p}/{b}", {"project": {"enabled": False}})
    call("enable grandchild under disabled child", "PATCH", f"{p}/{c}", {"project": {"enabled": True}})
    call("create under disabled parent", "POST", p, {"project": {"name": api.name("w"), "parent_id": b}})
    call("change parent", "PATCH", f"{p}/{b}", {"project": {"parent_id": a + "0"}})
    call("change is_domain", "PATCH", f"{p}/{b}", {"project": {"is_domain": True}})
    call("enable child", "PATCH", f"{p}/{b}", {"project": {"enabled": True}})
    call("enable grandchild", "PATCH", f"{p}/{c}", {"project": {"enabled": True}})
    call("delete role", "DELETE", f"/v3/roles/{role}")


def _depth(api, a: str, c: str) -> None:
    call = api.call
    p = "/v3/projects"
    c4 = call("create depth 4", "POST", p, {"project": {"name": api.name("d4"), "parent_id": c}})["project"]["id"]
    c5 = call("create depth 5", "POST", p, {"project": {"name": api.name("d5"), "parent_id": c4}})["project"]["id"]
    call("create depth 6 (too deep)", "POST", p, {"project": {"name": api.name("d6"), "parent_id": c5}})
    call("delete depth 5", "DELETE", f"{p}/{c5}")
    call("delete depth 4", "DELETE", f"{p}/{c4}")


def _tags(api, a: str, b: str) -> None:
    call = api.call
    t = f"/v3/projects/{a}/tags"
    call("list tags", "GET", t)
    call("add tag", "PUT", f"{t}/t3")
    call("add tag again", "PUT", f"{t}/t3")
    call("check tag", "GET", f"{t}/t3")
    call("head tag", "HEAD", f"{t}/t3")
    call("check missing tag", "GET", f"{t}/zz")
    call("delete missing tag", "DELETE", f"{t}/zz")
    call("delete tag", "DELETE", f"{t}/t3")
    call("replace tags", "PUT", t, {"tags": ["x", "y"]})
    call("replace tags with a slash", "PUT", t, {"tags": ["x/y"]})
    call("replace tags with a comma", "PUT", t, {"tags": ["x,y"]})
    call("replace tags with a long one", "PUT", t, {"tags": ["a" * 256]})
    call("replace tags with 81", "PUT", t, {"tags": [str(i) for i in range(81)]})
    call("replace tags with duplicates", "PUT", t, {"tags": ["dup", "dup"]})
    call("replace tags with an empty one", "PUT", t, {"tags": [""]})
    call("replace tags without a list", "PUT", t, {})
    call("add tag with a comma", "PUT", f"{t}/a,b")
    call("tags of unknown project", "GET", "/v3/projects/nope/tags")
    call("add tag to unknown project", "PUT", "/v3/projects/nope/tags/a")
    call("delete all tags", "DELETE", t)
    call("list tags after delete", "GET", t)
    call("tags by update", "PATCH", f"/v3/projects/{a}", {"project": {"tags": [api.name("p"), api.name("q")]}})
    call("filter tags", "GET", f"/v3/projects?tags={api.name('p')},{api.name('q')}")
    call("filter tags-any", "GET", f"/v3/projects?tags-any={api.name('p')},zz")
    call("filter not-tags", "GET", f"/v3/projects?not-tags={api.name('p')}&parent_id={a}")
    call("filter not-tags-any", "GET", f"/v3/projects?not-tags-any={api.name('p')},t2&parent_id={a}")


def _acting_domain(api) -> None:
    call = api.call
    p = "/v3/projects"
    isd = call("create project acting as domain", "POST", p,
               {"project": {"name": api.name("isd"), "is_domain": True}})["project"]["id"]
    call("show it as a domain", "GET", f"/v3/domains/{isd}")
    call("show it as a project", "GET", f"{p}/{isd}")
    call("delete it enabled", "DELETE", f"{p}/{isd}")
    call("disable it", "PATCH", f"{p}/{isd}", {"project": {"enabled": False}})
    call("delete it", "DELETE", f"{p}/{isd}")
    call("domain gone", "GET", f"/v3/domains/{isd}")


def sequence(api) -> None:
    call = api.call
    dom, a, b, c, d = _tree(api)
    _hierarchy(api, a, b, c)
    _depth(api, a, c)
    _tags(api, a, b)
    _acting_domain(api)
    for pid in (c, b, a, d):
        call("delete project", "DELETE", f"/v3/projects/{pid}")
    call("disable domain", "PATCH", f"/v3/domains/{dom}", {"domain": {"enabled": False}})
    call("delete domain", "DELETE", f"/v3/domains/{dom}")
