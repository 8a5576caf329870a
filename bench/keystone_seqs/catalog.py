"""Regions, services and endpoints written and read, OS-EP-FILTER endpoint groups and project
endpoints, and a project's token catalog filtered by them. Only what the sequence creates is
written (the anchor's own keystone/nova/... entries are left alone)."""


def _regions(api) -> tuple[str, str]:
    call = api.call
    top = call("create region (generated id)", "POST", "/v3/regions", {"region": {"description": "top"}})["region"]["id"]
    child = api.name("region")
    call("create region with id, parent and extra", "POST", "/v3/regions",
         {"region": {"id": child, "description": "c", "parent_region_id": top, "colour": "blue"}})
    leaf = api.name("leaf")
    call("put region", "PUT", f"/v3/regions/{leaf}", {"region": {"description": "l", "parent_region_id": child}})
    call("put region again (conflict)", "PUT", f"/v3/regions/{leaf}", {"region": {"description": "l"}})
    call("put region with another id in the body", "PUT", f"/v3/regions/{api.name('other')}",
         {"region": {"id": "different"}})
    call("create region with duplicate id", "POST", "/v3/regions", {"region": {"id": child}})
    call("create region with unknown parent", "POST", "/v3/regions", {"region": {"parent_region_id": "nope"}})
    call("create region wrong type", "POST", "/v3/regions", {"region": {"description": 5}})
    call("show region", "GET", f"/v3/regions/{child}")
    call("list regions by parent", "GET", f"/v3/regions?parent_region_id={child}")
    call("update region", "PATCH", f"/v3/regions/{child}", {"region": {"description": "d2"}})
    call("update region into a cycle", "PATCH", f"/v3/regions/{top}", {"region": {"parent_region_id": leaf}})
    call("update region to be its own parent", "PATCH", f"/v3/regions/{top}", {"region": {"parent_region_id": top}})
    call("update region id", "PATCH", f"/v3/regions/{child}", {"region": {"id": "z"}})
    call("show unknown region", "GET", "/v3/regions/nope-region")
    return top, leaf


def _services(api) -> tuple[str, str]:
    call = api.call
    svc = call("create service with extra", "POST", "/v3/services",
               {"service": {"type": api.name("type"), "name": api.name("svc"), "colour": "red"}})["service"]["id"]
    bare = call("create service with a type only", "POST", "/v3/services",
                {"service": {"type": api.name("bare")}})["service"]["id"]
    call("create service without type", "POST", "/v3/services", {"service": {"name": "x"}})
    call("create service with empty type", "POST", "/v3/services", {"service": {"type": ""}})
    call("create service with a long type", "POST", "/v3/services", {"service": {"type": "t" * 256}})
    call("create service enabled not bool", "POST", "/v3/services", {"service": {"type": "t", "enabled": "yes"}})
    call("create service name not string", "POST", "/v3/services", {"service": {"type": "t", "name": 5}})
    call("update service", "PATCH", f"/v3/services/{svc}",
         {"service": {"description": "d", "enabled": False, "size": 1}})
    call("update service type null", "PATCH", f"/v3/services/{svc}", {"service": {"type": None}})
    call("update service id", "PATCH", f"/v3/services/{svc}", {"service": {"id": "x"}})
    call("update unknown service", "PATCH", "/v3/services/nope", {"service": {"description": "d"}})
    call("list services by type", "GET", f"/v3/services?type={api.name('type')}")
    call("list services by name", "GET", f"/v3/services?name={api.name('svc')}")
    call("show service", "GET", f"/v3/services/{svc}")
    call("show bare service", "GET", f"/v3/services/{bare}")
    call("enable service", "PATCH", f"/v3/services/{svc}", {"service": {"enabled": True}})
    return svc, bare


def _endpoints(api, svc: str, leaf: str) -> tuple[str, str]:
    call = api.call
    ep = call("create endpoint with extra", "POST", "/v3/endpoints",
              {"endpoint": {"service_id": svc, "interface": "public", "url": "http://x.example/$(project_id)s",
                            "region_id": leaf, "weight": 1}})["endpoint"]["id"]
    ep2 = call("create endpoint with legacy region", "POST", "/v3/endpoints",
               {"endpoint": {"service_id": svc, "interface": "internal", "url": "http://y.example/",
                             "region": leaf}})["endpoint"]["id"]
    call("create endpoint without region", "POST", "/v3/endpoints",
         {"endpoint": {"service_id": svc, "interface": "admin", "url": "http://z.example/", "enabled": False}})
    bad = {"service_id": svc, "interface": "public", "url": "http://x.example/"}
    call("create endpoint bad interface", "POST", "/v3/endpoints", {"endpoint": {**bad, "interface": "bogus"}})
    call("create endpoint unknown service", "POST", "/v3/endpoints", {"endpoint": {**bad, "service_id": "nope"}})
    call("create endpoint unknown region", "POST", "/v3/endpoints", {"endpoint": {**bad, "region_id": "nope"}})
    call("create endpoint without url", "POST", "/v3/endpoints", {"endpoint": {"service_id": svc, "interface": "public"}})
    call("create endpoint url not a url", "POST", "/v3/endpoints", {"endpoint": {**bad, "url": "notaurl"}})
    call("create endpoint url unknown substitution", "POST", "/v3/endpoints",
         {"endpoint": {**bad, "url": "http://x/$(foo)s"}})
    call("create endpoint without interface", "POST", "/v3/endpoints", {"endpoint": {"service_id": svc, "url": "http://x/"}})
    call("create endpoint without service", "POST", "/v3/endpoints", {"endpoint": {"interface": "admin", "url": "http://x/"}})
    call("list endpoints of service", "GET", f"/v3/endpoints?service_id={svc}")
    call("list endpoints by interface and region", "GET", f"/v3/endpoints?interface=internal&region_id={leaf}")
    call("show endpoint", "GET", f"/v3/endpoints/{ep}")
    call("update endpoint", "PATCH", f"/v3/endpoints/{ep2}", {"endpoint": {"url": "http://w.example/"}})
    call("update endpoint unknown region", "PATCH", f"/v3/endpoints/{ep2}", {"endpoint": {"region_id": "nope"}})
    call("update endpoint unknown service", "PATCH", f"/v3/endpoints/{ep2}", {"endpoint": {"service_id": "nope"}})
    call("update unknown endpoint", "PATCH", "/v3/endpoints/nope", {"endpoint": {"url": "http://x/"}})
    call("delete region with endpoints", "DELETE", f"/v3/regions/{leaf}")
    return ep, ep2


def _endpoint_filter(api, svc: str, ep: str, ep2: str) -> None:
    call = api.call
    epf = "/v3/OS-EP-FILTER"
    proj = call("create project", "POST", "/v3/projects", {"project": {"name": api.name("epf")}})["project"]["id"]
    user = call("create user", "POST", "/v3/users",
                {"user": {"name": api.name("epfuser"), "password": "pw-123456"}})["user"]["id"]
    member = call("create role", "POST", "/v3/roles", {"role": {"name": api.name("eprole")}})["role"]["id"]
    call("grant member", "PUT", f"/v3/projects/{proj}/users/{user}/roles/{member}")
    group = call("create endpoint group", "POST", f"{epf}/endpoint_groups",
                 {"endpoint_group": {"name": api.name("eg"), "filters": {"service_id": svc, "interface": "internal"}}}
                 )["endpoint_group"]["id"]
    call("create endpoint group bad filter", "POST", f"{epf}/endpoint_groups",
         {"endpoint_group": {"name": "g", "filters": {"bogus": "x"}}})
    call("create endpoint group without filters", "POST", f"{epf}/endpoint_groups", {"endpoint_group": {"name": "g"}})
    call("create endpoint group without name", "POST", f"{epf}/endpoint_groups",
         {"endpoint_group": {"filters": {"interface": "public"}}})
    call("create endpoint group empty filters", "POST", f"{epf}/endpoint_groups",
         {"endpoint_group": {"name": "g", "filters": {}}})
    call("show endpoint group", "GET", f"{epf}/endpoint_groups/{group}")
    call("head endpoint group", "HEAD", f"{epf}/endpoint_groups/{group}")
    call("update endpoint group", "PATCH", f"{epf}/endpoint_groups/{group}", {"endpoint_group": {"description": "d"}})
    call("update endpoint group bad filter", "PATCH", f"{epf}/endpoint_groups/{group}",
         {"endpoint_group": {"filters": {"bogus": 1}}})
    call("endpoints of group", "GET", f"{epf}/endpoint_groups/{group}/endpoints")
    call("projects of group (none)", "GET", f"{epf}/endpoint_groups/{group}/projects")
    call("add group to project", "PUT", f"{epf}/endpoint_groups/{group}/projects/{proj}")
    call("add group to unknown project", "PUT", f"{epf}/endpoint_groups/{group}/projects/nope")
    call("show group project", "GET", f"{epf}/endpoint_groups/{group}/projects/{proj}")
    call("head group project", "HEAD", f"{epf}/endpoint_groups/{group}/projects/{proj}")
    call("projects of group", "GET", f"{epf}/endpoint_groups/{group}/projects")
    call("groups of project", "GET", f"{epf}/projects/{proj}/endpoint_groups")
    call("add endpoint to project", "PUT", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("add unknown endpoint to project", "PUT", f"{epf}/projects/{proj}/endpoints/nope")
    call("add endpoint to unknown project", "PUT", f"{epf}/projects/nope/endpoints/{ep}")
    call("head project endpoint", "HEAD", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("check project endpoint", "GET", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("endpoints of project", "GET", f"{epf}/projects/{proj}/endpoints")
    call("projects of endpoint", "GET", f"{epf}/endpoints/{ep}/projects")
    token = api.token(user_id=user, password="pw-123456", project_id=proj)
    call("filtered catalog", "GET", "/v3/auth/catalog", token=token)
    call("member creates a service (forbidden)", "POST", "/v3/services", {"service": {"type": "t"}}, token=token)
    call("member lists endpoint groups (forbidden)", "GET", f"{epf}/endpoint_groups", token=token)
    call("remove endpoint from project", "DELETE", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("remove endpoint from project again", "DELETE", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("head removed project endpoint", "HEAD", f"{epf}/projects/{proj}/endpoints/{ep}")
    call("remove group from project", "DELETE", f"{epf}/endpoint_groups/{group}/projects/{proj}")
    call("remove group from project again", "DELETE", f"{epf}/endpoint_groups/{group}/projects/{proj}")
    call("delete endpoint group", "DELETE", f"{epf}/endpoint_groups/{group}")
    call("show deleted endpoint group", "GET", f"{epf}/endpoint_groups/{group}")
    call("delete role", "DELETE", f"/v3/roles/{member}")
    call("delete user", "DELETE", f"/v3/users/{user}")
    call("delete project", "DELETE", f"/v3/projects/{proj}")


def sequence(api) -> None:
    call = api.call
    top, leaf = _regions(api)
    svc, bare = _services(api)
    ep, ep2 = _endpoints(api, svc, leaf)
    _endpoint_filter(api, svc, ep, ep2)
    call("delete endpoint", "DELETE", f"/v3/endpoints/{ep2}")
    call("delete endpoint again", "DELETE", f"/v3/endpoints/{ep2}")
    call("delete service", "DELETE", f"/v3/services/{svc}")
    call("endpoint of deleted service", "GET", f"/v3/endpoints/{ep}")
    call("delete bare service", "DELETE", f"/v3/services/{bare}")
    call("delete region tree", "DELETE", f"/v3/regions/{top}")
    # (a list: the anchor's cache still answers GET /v3/regions/{leaf} after the delete)
    call("regions below deleted region", "GET", f"/v3/regions?parent_region_id={top}")
