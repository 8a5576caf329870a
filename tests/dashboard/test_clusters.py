"""The cluster pages over HTTP against a real caas (SQLite and PostgreSQL, fake driver): the
list, the create form with its plan, the cluster page with its live part, adding and removing
nodes, the delete with its confirmation; every refusal shows the API's reason, bad input never
reaches the API as a 500, and another project's clusters are neither shown nor touched.
The same in a real browser: tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import re
import time

import pytest

from caas.dashboard.clusters import EVENTS_SHOWN, KEYS_DIR, busy
from caas.dashboard.pages import TEMPLATES
from tests.clusters.common import API, NET, leftovers, network, routed, set_quota, wait
from tests.conftest import client_for, issue_token, make_member
from tests.dashboard.common import Browser, flash, text

EVIL = "x;$(id)'\"<b>bold</b>"


@pytest.fixture(scope="module")
def admin_api(server):
    with client_for(server, issue_token(server)) as c:
        yield c


@pytest.fixture(scope="module")
def erin(server, admin_api):
    """A member of project erin, with her API client and a logged-in dashboard."""
    m = make_member(server, admin_api, "erin")
    set_quota(admin_api, m["project_id"], instances=20)
    with client_for(server, m["token"]) as c, Browser(server) as b:
        b.login("erin", m["password"], "erin")
        m["api"], m["web"] = c, b
        yield m


@pytest.fixture(scope="module")
def frank(server, admin_api):
    """A member of another project."""
    m = make_member(server, admin_api, "frank")
    with client_for(server, m["token"]) as c, Browser(server) as b:
        b.login("frank", m["password"], "frank")
        m["api"], m["web"] = c, b
        yield m


def form(name: str, n: int = 1, **kw) -> dict:
    return {"name": name, "node_count": str(n), "node_flavor": "m1.nano", "image": "host", "profile": "base", **kw}


def made(user: dict, name: str, n: int = 1, **kw) -> dict:
    """A cluster made through the form (plan, then create), once it has settled."""
    web = user["web"]
    web.get("/dashboard/clusters/new")
    plan = web.post("/dashboard/clusters/new", {**form(name, n, **kw), "action": "plan"}, status=200)
    assert f"Plan for cluster {name}" in text(plan) and 'value="create"' in plan.text
    r = web.post("/dashboard/clusters/new", {**form(name, n, **kw), "action": "create"},
                 status=200 if not kw.get("key_name") else 303)
    cluster = user["api"].get(f"{API}/clusters/{name}").json()["cluster"]
    if r.status_code == 200:  # the generated key, shown once
        assert "-----BEGIN" in r.text and "only this once" in text(r)
        assert f"copy it now to ~/.config/caas/keys/{cluster['id']} (mode 0600" in text(r)
        assert f"where caas cluster ssh {name} finds it" in text(r)
        assert f'/dashboard/clusters/{cluster["id"]}"' in r.text
    else:
        assert r.headers["location"] == f"/dashboard/clusters/{cluster['id']}"
    return wait(user["api"], cluster["id"])


def live(user: dict, cluster_id: str, until, timeout: float = 60) -> str:
    """The cluster's live fragment (as the page's script fetches it) once ``until(text)``."""
    deadline = time.monotonic() + timeout
    while True:
        r = user["web"].http.get(f"/dashboard/clusters/{cluster_id}/live", headers={"X-Caas-Partial": "1"})
        assert r.status_code == 200, r.text
        if until(text(r)):
            return r.text
        assert time.monotonic() < deadline, text(r)
        time.sleep(0.2)


def test_list_create_and_the_live_page(erin):
    web = erin["web"]
    assert "This project has no clusters yet." in text(web.get("/dashboard/clusters"))
    new = web.get("/dashboard/clusters/new")
    for label in ("Name", "Image", "Profile", "Profile version", "Compute nodes", "Node flavor", "Head flavor",
                  "Key pair"):
        assert f">{label}</label>" in new.text or f">{label} <" in new.text
    assert "(the default: host)" in new.text and "(the default: m1.xsmall, which this cloud does not have)" in new.text
    c = made(erin, "web1", 2)
    assert c["status"] == "ACTIVE" and c["node_count"] == 2
    page = text(web.get("/dashboard/clusters"))
    assert re.search(r"web1 ● ACTIVE 1 2 of 2 ready " + re.escape(c["floating_ip"]) + " host base", page), page
    table = web.http.get("/dashboard/clusters/table", headers={"X-Caas-Partial": "1"})
    assert table.text.startswith('<div id="clusters"') and 'data-busy="0"' in table.text
    page = web.get(f"/dashboard/clusters/{c['id']}")
    body = text(page)
    assert "2 of 2 ready" in body and c["floating_ip"] in body and "web1-head" in body
    for n in c["nodes"]:
        assert f"{n['name']} {n['role']} ● ACTIVE {n['fixed_ip']} m1.nano" in body
    assert "creating cluster web1: head + 2 node(s)" in body  # the events
    assert 'data-busy="0"' in page.text
    # where it is: the clusters, then this one (its name last, no separator after it)
    assert re.search(r'<nav aria-label="Breadcrumb"><ol class="crumbs"><li><a href="/dashboard/clusters">Clusters</a>'
                     r'</li><li aria-current="page">web1</li></ol></nav>', page.text), page.text[:3000]
    # how to get in: the CLI's command, and ssh with the file where the CLI keeps the key
    assert (f"SSH caas cluster ssh web1 (the caas CLI finds the key itself; a compute node: caas cluster ssh web1 "
            f"NODE ) or ssh -i ~/.config/caas/keys/{c['id']} root@{c['floating_ip']} (the private key caas generated, "
            "shown once at the create: the caas CLI saved it in that file; from this dashboard, save it there "
            "yourself)") in body
    # the events: every one of them (fewer than 40), said so
    events = erin["api"].get(f"{API}/clusters/{c['id']}/events").json()["events"]
    assert 3 < len(events) <= 40
    assert f"All {len(events)} events" in body and body.count(" info ") == len(events)


@pytest.mark.parametrize("total, caption", [(45, "The last 40 of 45 events"), (40, "All 40 events"),
                                            (0, "All 0 events")])
def test_the_events_caption_says_how_many_are_shown(total, caption):
    """The page's live part, rendered as its view renders it, with more events than it shows."""
    every = [{"seq": i, "time": f"2026-12-07T06:{i:02d}:00.000Z", "step": "nodes", "level": "info",
              "message": f"event {i}", "duration": None} for i in range(total)]
    cluster = {"id": "c" * 32, "name": "many", "status": "ACTIVE", "nodes": [], "floating_ip": None}
    page = text(TEMPLATES.get_template("cluster_live.html").render(
        cluster=cluster, events=every[-EVENTS_SHOWN:], events_total=total, busy=False, progress=None,
        session={"may_write": False}, keys_dir=KEYS_DIR))
    assert caption in page
    assert page.count("event ") == min(total, 40) and (total < 45 or "event 4 " not in page and "event 44" in page)


def test_a_degraded_cluster_is_idle_with_its_own_mark():
    """DEGRADED (a node down, found by the health check) is idle: the page stops refreshing
    itself, and the status says it with its own mark, as a fault, not as work in progress."""
    cluster = {"id": "d" * 32, "name": "sick", "status": "DEGRADED", "operation": None,
               "status_reason": "node002: its server is SHUTOFF (power state Crashed)", "floating_ip": None,
               "nodes": [{"name": "node002", "role": "compute", "status": "DOWN", "fixed_ip": "10.0.0.5",
                          "flavor": "m1.nano", "server_id": "s"}]}
    assert not busy(cluster) and busy(dict(cluster, operation="add"))
    html = TEMPLATES.get_template("cluster_live.html").render(
        cluster=cluster, events=[], events_total=0, busy=busy(cluster), progress=None,
        session={"may_write": False}, keys_dir=KEYS_DIR)
    assert 'data-busy="0"' in html
    assert re.search(r'<span class="status bad"><span aria-hidden="true">▲</span> DEGRADED</span>', html), html
    assert '<span class="status off"><span aria-hidden="true">○</span> DOWN</span>' in html


def test_the_page_is_live_while_building(erin):
    web = erin["web"]
    r = web.post("/dashboard/clusters/new", {**form("web2", 3), "action": "create"}, status=200)
    cid = re.search(r'/dashboard/clusters/([0-9a-f-]{32,36})"', r.text).group(1)
    first = web.http.get(f"/dashboard/clusters/{cid}/live", headers={"X-Caas-Partial": "1"}).text
    if 'data-busy="1"' in first:  # caught building: the progress and the disabled remove
        assert "Progress: step" in text(first) or "queued" in text(first)
    live(erin, cid, lambda t: "3 of 3 ready" in t and "● ACTIVE" in t)
    wait(erin["api"], cid)


def test_plan_shows_quota_and_resources_and_creates_nothing(erin):
    web = erin["web"]
    plan = text(web.post("/dashboard/clusters/new", {**form("planned", 4), "action": "plan"}, status=200))
    assert "node001 … node004" in plan and "planned-node004" in plan and "instances 5" in plan
    assert erin["api"].get(f"{API}/clusters/planned").status_code == 404
    edit = web.post("/dashboard/clusters/new/edit", {**form("planned", 4), "action": "edit"}, status=200)
    assert 'value="planned"' in edit.text and 'value="4"' in edit.text
    plan = text(web.post("/dashboard/clusters/new", {**form("versioned", 1, profile_version="1"), "action": "plan"},
                         status=200))
    assert "Profile base 1" in plan


def test_over_quota_is_refused_with_each_shortfall(server, admin_api, erin):
    set_quota(admin_api, erin["project_id"], instances=8)  # 7 in use
    try:
        web = erin["web"]
        before = leftovers(erin["api"])
        plan = web.post("/dashboard/clusters/new", {**form("huge", 6), "action": "plan"}, status=200)
        assert "Refused:" in text(plan) and 'value="create"' not in plan.text
        assert re.search(r"instances 7 [0-9]+", text(plan).split("What the project lacks")[1])
        r = web.post("/dashboard/clusters/new", {**form("huge", 6), "action": "create"}, status=403)
        assert "instances" in text(r) and "What the project lacks" in text(r)
        assert erin["api"].get(f"{API}/clusters/huge").status_code == 404
        assert leftovers(erin["api"]) == before
    finally:
        set_quota(admin_api, erin["project_id"], instances=20)


@pytest.mark.parametrize("fields, reason, status", [
    ({"name": ""}, "Give the cluster a name.", 400),
    ({"node_count": "abc"}, "whole number from 0 to 1006", 400),
    ({"node_count": "-1"}, "whole number from 0 to 1006", 400),
    ({"node_count": "²"}, "whole number from 0 to 1006", 400),
    ({"node_count": "99999"}, "whole number from 0 to 1006", 400),
    ({"image": "i" * 300}, "at most 255 characters", 400),
    ({"image": "no-such-image"}, "no-such-image", 400),
    ({"node_flavor": "no-such-flavor"}, "no-such-flavor", 400),
    ({"profile": "nope"}, "nope", 400),
    ({"key_name": "nokey"}, "nokey", 400),
    ({"profile_version": "9"}, "9", 400),
    ({"name": EVIL}, "name", 400),
])
def test_bad_create_forms_show_the_reason(erin, fields, reason, status):
    web = erin["web"]
    for action in ("plan", "create"):
        r = web.post("/dashboard/clusters/new", {**form("bad"), **fields, "action": action}, status=status)
        assert reason in flash(r), flash(r)
        assert "<b>bold</b>" not in r.text
    assert erin["api"].get(f"{API}/clusters/bad").status_code == 404


def test_a_cluster_with_the_users_keypair(erin):
    pub = erin["api"].post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "erin-key"}}).json()["keypair"]
    assert pub["name"] == "erin-key"
    c = made(erin, "keyed", 0, key_name="erin-key")
    assert c["key_name"] == "erin-key" and not c["keypair_generated"]
    body = text(erin["web"].get(f"/dashboard/clusters/{c['id']}"))
    assert (f"caas cluster ssh keyed (the caas CLI finds the key itself; a compute node: caas cluster ssh keyed NODE ) "
            f"or ssh -i KEY root@{c['floating_ip']} (KEY: the private key of your key pair erin-key)") in body
    assert "/.config/caas/keys" not in body


def test_a_cluster_on_a_shared_network(erin, admin_api):
    """The form offers the networks erin may give a cluster and the external ones; the plan
    says which, and the cluster is made on the one chosen."""
    campus = network(admin_api, "campus-web", "192.168.90.0/24", shared=True)
    public = admin_api.get(f"{NET}/networks", params={"router:external": "true"}).json()["networks"][0]
    routed(admin_api, campus, public["id"])
    new = erin["web"].get("/dashboard/clusters/new").text
    assert f'<option value="{campus["id"]}">campus-web (shared)</option>' in new
    assert f'<option value="{public["id"]}">{public["name"]}</option>' in new
    assert "keyed-net" not in new  # a cluster's own network is no choice (test_a_cluster_with_the_users_keypair's)
    chosen = {"network": campus["id"], "external_network": public["id"]}
    plan = text(erin["web"].post("/dashboard/clusters/new", {**form("oncampus", 1, **chosen), "action": "plan"},
                                 status=200))
    assert "Network campus-web (given), subnet 192.168.90.0/24" in plan and f"External network {public['name']}" in plan
    c = made(erin, "oncampus", 1, **chosen)
    assert c["status"] == "ACTIVE" and c["network_id"] == campus["id"] and c["network_given"], c["status_reason"]
    r = erin["api"].delete(f"{API}/clusters/oncampus")
    assert r.status_code == 202 and wait(erin["api"], "oncampus") is None


def test_add_by_range_and_count_then_remove(erin):
    web, api = erin["web"], erin["api"]
    c = wait(api, "web1")
    page = f"/dashboard/clusters/{c['id']}"
    web.get(page)
    r = web.follow(web.post(page + "/nodes", {"names": "node[003-004]"}))
    assert "Adding 2 node(s): node003, node004." in flash(r)
    live(erin, c["id"], lambda t: "4 of 4 ready" in t)
    wait(api, c["id"])
    r = web.follow(web.post(page + "/nodes", {"count": "1"}))
    assert "Adding 1 node(s): node005." in flash(r)
    wait(api, c["id"])
    r = web.follow(web.post(page + "/nodes/remove", {"node": ["node003", "node005"]}))
    assert "Removing node003, node005." in flash(r)
    live(erin, c["id"], lambda t: "3 of 3 ready" in t)
    names = [n["name"] for n in wait(api, c["id"])["nodes"]]
    assert names == ["web1-head", "node001", "node002", "node004"]


@pytest.mark.parametrize("fields, reason", [
    ({}, "Give either a number of nodes or their names"),
    ({"count": "2", "names": "node009"}, "Give either a number of nodes or their names"),
    ({"count": "abc"}, "whole number from 1 to 1006"),
    ({"count": "0"}, "whole number from 1 to 1006"),
    ({"count": "²"}, "whole number from 1 to 1006"),
    ({"names": "node[1-"}, "node[1-"),
    ({"names": "node001"}, "already has node(s) node001"),
    ({"names": EVIL}, "x;$(id)"),
    ({"count": "1", "flavor": "no-such-flavor"}, "no-such-flavor"),
])
def test_bad_node_forms_show_the_reason(erin, fields, reason):
    web = erin["web"]
    c = wait(erin["api"], "web1")
    r = web.follow(web.post(f"/dashboard/clusters/{c['id']}/nodes", fields))
    assert reason in flash(r) and flash(r).startswith("Error:"), flash(r)
    assert "<b>bold</b>" not in r.text
    assert wait(erin["api"], c["id"])["node_count"] == c["node_count"]


def test_bad_removes_show_the_reason(erin):
    web = erin["web"]
    c = wait(erin["api"], "web1")
    r = web.follow(web.post(f"/dashboard/clusters/{c['id']}/nodes/remove", {}))
    assert "Choose the nodes to remove." in flash(r)
    r = web.follow(web.post(f"/dashboard/clusters/{c['id']}/nodes/remove", {"node": "node999"}))
    assert "has no node(s) node999" in flash(r)
    assert wait(erin["api"], c["id"])["node_count"] == c["node_count"]


def test_unknown_cluster(erin):
    web = erin["web"]
    for path in ("", "/live", "/delete"):
        r = web.get(f"/dashboard/clusters/00000000-0000-0000-0000-000000000000{path}", status=404)
        assert "Error 404" in text(r)
    r = web.post("/dashboard/clusters/nope/delete", {"confirm": "nope"}, status=404)
    r = web.follow(web.post("/dashboard/clusters/nope/nodes", {"count": "1"}), status=404)
    assert "No cluster 'nope' in this project." in flash(r)


def test_another_projects_clusters_are_invisible_and_untouchable(erin, frank):
    c = wait(erin["api"], "web1")
    web = frank["web"]
    listing = text(web.get("/dashboard/clusters"))
    assert "web1" not in listing and "This project has no clusters yet." in listing
    assert "web1" not in web.http.get("/dashboard/clusters/table").text
    page = f"/dashboard/clusters/{c['id']}"
    r = web.get(page, status=404)
    assert "web1" not in r.text and c["floating_ip"] not in r.text
    web.post(page + "/delete", {"confirm": "web1"}, status=404)
    for path, fields in (("/nodes", {"count": "1"}), ("/nodes/remove", {"node": "node001"})):
        r = web.follow(web.post(page + path, fields), status=404)
        assert "No cluster" in flash(r) and "web1" not in r.text
    after = wait(erin["api"], c["id"])
    assert after["status"] == "ACTIVE" and after["node_count"] == c["node_count"]


def test_posts_without_csrf_or_too_large_change_nothing(erin):
    web, api = erin["web"], erin["api"]
    c = wait(api, "web1")
    page = f"/dashboard/clusters/{c['id']}"
    web.post("/dashboard/clusters/new", {**form("forged"), "action": "create"}, status=403, csrf=False)
    web.post(page + "/delete", {"confirm": "web1"}, status=403, csrf=False)
    web.post(page + "/nodes", {"count": "1", "csrf_token": "0" * 64}, status=403, csrf=False)
    web.post(page + "/nodes/remove", {"node": "node001"}, status=403, csrf=False)
    web.post(page + "/nodes", {"count": "1", "names": "n" * 70000}, status=413)
    assert api.get(f"{API}/clusters/forged").status_code == 404
    after = wait(api, c["id"])
    assert after["status"] == "ACTIVE" and after["node_count"] == c["node_count"]


def test_delete_needs_the_name_typed(erin):
    web, api = erin["web"], erin["api"]
    for name in ("web2", "keyed"):
        c = wait(api, name)
        page = f"/dashboard/clusters/{c['id']}"
        confirm = web.get(page + "/delete")
        assert f"Delete cluster {name}?" in text(confirm)
        r = web.post(page + "/delete", {"confirm": name + "x"}, status=400)
        assert "Type the cluster's name" in flash(r)
        assert wait(api, c["id"])["status"] == "ACTIVE"
        r = web.follow(web.post(page + "/delete", {"confirm": name}))
        assert f"Deleting cluster {name}." in flash(r)
        assert wait(api, c["id"]) is None
    assert "web2" not in text(web.get("/dashboard/clusters"))


def test_a_slurm_clusters_queue_and_its_chart():
    """The queue's jobs as the health check read them (their names escaped), and the chart of the
    samples: a plain SVG of numbers (a step line of nodes, a dashed one of pending jobs)."""
    import datetime as dt

    from caas.clusters import queue

    q = queue.parse("12|PENDING|6|alice|<b>big</b>|0:00\n13|RUNNING|1|bob|small|1:02\nnot a job line\n")
    assert (q["pending"], q["running"], [j["id"] for j in q["jobs"]]) == (1, 1, ["12", "13"])
    cluster = {"id": "e" * 32, "name": "hpc", "status": "ACTIVE", "operation": None, "status_reason": "",
               "floating_ip": None, "nodes": [], "queue": q, "node_count": 0, "updated_at": "2026-12-08T00:00:00Z"}
    html = TEMPLATES.get_template("cluster_live.html").render(
        cluster=cluster, events=[], events_total=0, busy=False, progress=None, session={"may_write": False},
        keys_dir=KEYS_DIR, prefix="/dashboard")
    assert "1 pending, 1 running" in html and "&lt;b&gt;big&lt;/b&gt;" in html and "<b>big" not in html
    assert f'src="/dashboard/clusters/{"e" * 32}/chart.svg' in html
    t0 = dt.datetime(2026, 12, 8, 1, 0, 0)
    points = [{"time": (t0 + dt.timedelta(seconds=s)).isoformat() + "Z", "nodes": n, "pending": p, "running": 0}
              for s, n, p in ((0, 0, 1), (5, 6, 0), (60, 0, 0))]
    svg = queue.svg(points, now=t0 + dt.timedelta(seconds=120))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and svg.count("<polyline") == 2
    assert ">6</text>" in svg and "01:00:00" in svg and "01:02:00" in svg
    assert "no samples yet" in queue.svg([])
