"""The cluster pages: the project's clusters, the create form with its plan, a cluster with
its nodes and live progress, adding and removing nodes, deleting. Everything goes through the
``/caas/v1`` API; a refusal shows the API's reason (and, for quota, each shortfall)."""

from __future__ import annotations

from starlette.responses import Response

from caas.clusters import queue
from caas.dashboard.client import ApiError
from caas.dashboard.forms import part
from caas.dashboard.pages import Pages, View
from caas.numbers import decimal

pages = Pages()
API = "/caas/v1/clusters"
# The steps of each operation, in order (the engine's), for the progress bar.
STEPS = {"create": ["network", "router", "security_group", "head", "floating_ip", "nodes", "bootstrap", "ready"],
         "add": ["nodes", "bootstrap", "ready"]}
IDLE = ("ACTIVE", "DEGRADED", "ERROR")  # DEGRADED: idle with a node down (the health check)
MAX_NODES = 1006  # the API's own limit is checked there; this only bounds the number field
EVENTS_SHOWN = 40
# Where the caas CLI keeps a generated private key, as the user's shell spells it (the CLI's
# default $CAAS_CONFIG_DIR, caas.cli.clusters.config_dir; the dashboard cannot see the user's).
KEYS_DIR = "~/.config/caas/keys"
FIELDS = ("name", "image", "profile", "profile_version", "node_count", "node_flavor", "head_flavor", "key_name",
          "ready", "network", "external_network")


def _path(cluster_id: str, tail: str = "") -> str:
    return f"{API}/{part(cluster_id)}{tail}"


def busy(cluster: dict) -> bool:
    return cluster.get("status") not in IDLE or cluster.get("operation") is not None


def progress(cluster: dict) -> dict | None:
    """Where the running operation is: step n of m (None when idle or not a stepped operation)."""
    steps = STEPS.get(cluster.get("operation") or "")
    if not steps or not busy(cluster):
        return None
    step = cluster.get("step")
    done = steps.index(step) if step in steps else 0
    return {"step": step, "index": done + 1, "total": len(steps)}


# ---- the list ---------------------------------------------------------------------------------
async def _clusters(view: View) -> list[dict]:
    return (await view.api.get(API))["clusters"]


@pages.page("/clusters")
async def cluster_list(view: View) -> Response:
    clusters = await _clusters(view)
    return view.render("clusters.html", clusters=clusters, busy=any(map(busy, clusters)))


@pages.page("/clusters/table")
async def cluster_table(view: View) -> Response:
    clusters = await _clusters(view)
    return view.fragment("clusters_table.html", clusters=clusters, busy=any(map(busy, clusters)))


# ---- create -----------------------------------------------------------------------------------
async def _choices(view: View) -> dict:
    images, flavors, keypairs, profiles, networks = await view.api.gather(
        view.api.get("/image/v2/images", limit=500), view.api.get("/compute/v2.1/flavors/detail"),
        view.api.get("/compute/v2.1/os-keypairs"), view.api.get("/caas/v1/profiles"),
        view.api.get("/network/v2.0/networks"))
    nets = sorted(networks["networks"], key=lambda n: (n.get("name") or "", n["id"]))
    # what the cluster service takes when a field is left blank (its settings: same process)
    settings = view.request.app.state.cloud.settings
    return {"images": [i for i in images["images"] if i.get("status") == "active"],
            "flavors": sorted(flavors["flavors"], key=lambda f: (f["ram"], f["vcpus"], f["name"])),
            "keypairs": [k["keypair"] for k in keypairs["keypairs"]], "profiles": profiles["profiles"],
            # the networks a cluster may be given (--network) and the external ones (--external-network)
            "networks": [n for n in nets if not n.get("router:external") and n.get("subnets")
                         and not any(str(tag).startswith("caas-cluster-") for tag in n.get("tags") or [])],
            "externals": [n for n in nets if n.get("router:external")],
            "default_flavor": settings.cluster_flavor, "default_image": settings.cluster_image}


def _form_values(view: View) -> dict:
    return {name: view.field(name) for name in FIELDS} | {"keep_on_failure": view.field("keep_on_failure") == "on"}


def _request_body(values: dict) -> tuple[dict | None, str | None]:
    """The API's cluster body from the form, or the reason the form is wrong."""
    if not values["name"]:
        return None, "Give the cluster a name."
    if any(len(values[f]) > 255 for f in FIELDS):
        return None, "Each field is at most 255 characters."
    count = decimal(values["node_count"] or "0", 0, MAX_NODES)
    if count is None:
        return None, f"Compute nodes must be a whole number from 0 to {MAX_NODES}."
    body = {"name": values["name"], "node_count": count, "keep_on_failure": values["keep_on_failure"]}
    for f in ("image", "profile", "profile_version", "node_flavor", "head_flavor", "key_name", "ready", "network",
              "external_network"):
        if values[f]:
            body[f] = values[f]
    return body, None


@pages.page("/clusters/new", write=True)
async def create_form(view: View) -> Response:
    values = {"node_count": "2", "profile": "base", "keep_on_failure": False}
    return view.render("cluster_new.html", values=values, **await _choices(view))


@pages.page("/clusters/new/edit", methods=("POST",), write=True)
async def edit_form(view: View) -> Response:
    """Back from the plan to the form, with what was chosen."""
    return view.render("cluster_new.html", values=_form_values(view), **await _choices(view))


@pages.page("/clusters/new", methods=("POST",), write=True)
async def create(view: View) -> Response:
    """``action=plan``: the dry run, shown for confirmation; ``action=create``: the create."""
    values = _form_values(view)
    body, problem = _request_body(values)
    if problem:  # the form again (its choices are asked for only to show it)
        view.message = ("error", problem)
        return view.render("cluster_new.html", status=400, values=values, **await _choices(view))
    try:
        if view.field("action") != "create":
            plan = (await view.api.post(API, {"cluster": body, "dry_run": True}))["plan"]
            return view.render("cluster_plan.html", values=values, plan=plan, shortfalls=plan.get("shortfalls", []))
        out = await view.api.post(API, {"cluster": body})
    except ApiError as exc:
        return view.error(exc, "cluster_new.html", values=values, **await _choices(view))
    cluster = out["cluster"]
    if out.get("private_key"):  # shown once: caas keeps no copy the dashboard could show again
        return view.render("cluster_key.html", cluster=cluster, private_key=out["private_key"], keys_dir=KEYS_DIR)
    return view.redirect(f"/clusters/{part(cluster['id'])}", ok=f"Creating cluster {cluster['name']}.")


# ---- one cluster ------------------------------------------------------------------------------
async def _live(view: View) -> dict:
    cid = view.params["id"]
    cluster, events = await view.api.gather(view.api.get(_path(cid)), view.api.get(_path(cid, "/events")))
    every = events["events"]
    return {"cluster": cluster["cluster"], "events": every[-EVENTS_SHOWN:], "events_total": len(every),
            "busy": busy(cluster["cluster"]), "progress": progress(cluster["cluster"]), "keys_dir": KEYS_DIR}


@pages.page("/clusters/{id}")
async def cluster_page(view: View) -> Response:
    live, flavors = await view.api.gather(_live(view), view.api.get("/compute/v2.1/flavors"))
    return view.render("cluster.html", flavors=flavors["flavors"], **live)


@pages.page("/clusters/{id}/live")
async def cluster_live(view: View) -> Response:
    return view.fragment("cluster_live.html", **await _live(view))


@pages.page("/clusters/{id}/chart.svg")
async def cluster_chart(view: View) -> Response:
    """The cluster's nodes (and pending jobs) over time, drawn here: a plain SVG, no script."""
    samples = (await view.api.get(_path(view.params["id"], "/samples")))["samples"]
    return Response(queue.svg(samples), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; style-src "
                                                                                   "'unsafe-inline'"})


@pages.page("/clusters/{id}/nodes", methods=("POST",), write=True)
async def add_nodes(view: View) -> Response:
    cid = view.params["id"]
    back = f"/clusters/{part(cid)}"
    count, names, flavor = view.field("count"), view.field("names"), view.field("flavor")
    if bool(count) == bool(names):
        return view.redirect(back, error="Give either a number of nodes or their names (such as node[004-005]).")
    number = decimal(count, 1, MAX_NODES) if count else None
    if count and number is None:
        return view.redirect(back, error=f"The number of nodes must be a whole number from 1 to {MAX_NODES}.")
    if len(names) > 4096 or len(flavor) > 255:
        return view.redirect(back, error="The names or the flavor are too long.")
    body: dict = {"count": number} if count else {"names": names}
    if flavor:
        body["flavor"] = flavor
    try:
        out = await view.api.post(_path(cid, "/nodes"), {"nodes": body})
    except ApiError as exc:
        return view.redirect(back, error=exc.message)
    return view.redirect(back, ok=f"Adding {len(out['nodes'])} node(s): {', '.join(out['nodes'])}.")


@pages.page("/clusters/{id}/nodes/remove", methods=("POST",), write=True)
async def remove_nodes(view: View) -> Response:
    cid = view.params["id"]
    back = f"/clusters/{part(cid)}"
    chosen = [n for n in view.form.getlist("node") if isinstance(n, str) and n]
    if not chosen:
        return view.redirect(back, error="Choose the nodes to remove.")
    try:
        out = await view.api.request("DELETE", _path(cid, "/nodes/" + part(",".join(chosen))))
    except ApiError as exc:
        return view.redirect(back, error=exc.message)
    return view.redirect(back, ok=f"Removing {', '.join(out.json()['nodes'])}.")


@pages.page("/clusters/{id}/delete", write=True)
async def delete_form(view: View) -> Response:
    cluster = (await view.api.get(_path(view.params["id"])))["cluster"]
    return view.render("cluster_delete.html", cluster=cluster)


@pages.page("/clusters/{id}/delete", methods=("POST",), write=True)
async def delete(view: View) -> Response:
    cid = view.params["id"]
    cluster = (await view.api.get(_path(cid)))["cluster"]
    if view.field("confirm") != cluster["name"]:
        view.message = ("error", "Type the cluster's name to confirm the delete.")
        return view.render("cluster_delete.html", status=400, cluster=cluster)
    try:
        await view.api.delete(_path(cid))
    except ApiError as exc:
        return view.redirect(f"/clusters/{part(cid)}", error=exc.message)
    return view.redirect("/clusters", ok=f"Deleting cluster {cluster['name']}.")
