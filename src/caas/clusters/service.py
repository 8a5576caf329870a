"""Cluster domain logic (no HTTP): create (with its plan and quota check), list, show, events,
add and remove nodes, delete; the background workers that run the engine, and the resume of
work a previous run left half done.

What the caller asked for is checked here, before anything exists: the name, the profile
(``planning``), the image (by name, id, or ``os_distro``), the flavors, the keypair
(``resolve``), node names, and the whole cluster against the project's quotas and the cloud's
capacity. A refusal lists every shortfall. Accepted work is recorded, then runs on a worker
(``Engine.run``).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from caas.clusters import (addresses, home, queue, names as node_names, planning, policy, profiles, quota, readiness, resolve,
                           restart, users as cluster_users)
from caas.clusters.cloud import CloudAccess, answers, cloud_message
from caas.clusters.credentials import ClusterCredentials
from caas.clusters.elastic import ElasticService
from caas.clusters.engine import Engine
from caas.clusters.guest import generate_key
from caas.clusters.health import Health
from caas.clusters.models import (ACTIVE, BUILDING, COMPUTE, CREATING, DEGRADED, DELETING, ERROR, HEAD, HEAD_NAME,
                                  NODE_DELETING, NODE_PREFIX, UPDATING, Cluster, ClusterCredential, ClusterEvent,
                                  ClusterNode, ClusterResource, ClusterScaler)
from caas.clusters.planning import MAX_NODES, Request
from caas.clusters.quota import QuotaShortfall
from caas.config import Settings
from caas.db import Database
from caas.db.base import new_id, utcnow
from caas.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from caas.context import AuthContext
from caas.identity.secrets import SecretBox
from caas.identity.tokens import KeyRepository

log = logging.getLogger("caas.clusters")


def _options(c: Cluster) -> dict:
    """The profile's options as the cluster has them (the elastic ones only when it is)."""
    o = {k: v for k, v in (c.options or {}).items() if v is not None}
    if not o.get("max_nodes"):
        o.pop("idle_time", None)
    return o


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


class ClusterService(ElasticService):
    def __init__(self, db: Database, settings: Settings, secrets: SecretBox | None = None) -> None:
        self.db = db
        self.settings = settings
        self.access = CloudAccess(settings)
        self.credentials = ClusterCredentials(
            db, secrets or SecretBox(KeyRepository(settings.credential_key_dir)), self.access)
        self.engine = Engine(db, settings, self.access, self.credentials)
        # the health check has connections of its own: its calls never share (nor time) the
        # keep-alive connections of the clusters' work
        self.health = Health(self.engine, CloudAccess(settings))
        self._health_thread: threading.Thread | None = None
        self._workers = cf.ThreadPoolExecutor(settings.cluster_workers, thread_name_prefix="caas-cluster")

    # ---- lifecycle ----------------------------------------------------------------------
    def bootstrap(self) -> None:
        """Resume (finish or roll back) the work a previous run left half done. Runs on the
        workers, which wait for the cloud to answer first. Then the health check of the idle
        clusters starts: once the cloud answers, and every CAAS_CLUSTER_CHECK_INTERVAL s."""
        with self.db.read() as s:
            pending = list(s.scalars(select(Cluster.id).where(Cluster.operation.is_not(None))))
        for cid in pending:
            self._submit(cid, "resume", wait_for_cloud=True)
        self._health_thread = threading.Thread(target=self._health_loop, name="caas-cluster-health", daemon=True)
        self._health_thread.start()

    def _health_loop(self) -> None:
        """Check every CAAS_CLUSTER_CHECK_INTERVAL s. The cloud is first reached (and
        openstacksdk, some 40 MiB, imported) once there is a cluster to check: a caas that holds
        no cluster never loads it."""
        reached = False
        while True:
            if self.health.due():
                if not reached and not self._wait_for_cloud():
                    return
                reached = True
                self.health.check_all()
            if self.engine.stopping.wait(self.settings.cluster_check_interval):
                return

    def shutdown(self) -> None:
        self.engine.stopping.set()
        if self._health_thread is not None:
            self._health_thread.join(timeout=30)
        self._workers.shutdown(wait=True, cancel_futures=True)
        self.engine.close()
        self.access.close()
        self.health.access.close()

    def _submit(self, cluster_id: str, operation: str, names: list[str] | None = None, user_key: str = "",
                wait_for_cloud: bool = False, token: str = "") -> None:
        """Run the work on a worker; ``token``, the requester's, is kept in memory for it only
        (it deletes the cluster's application credential after a delete or a rollback)."""
        def job():
            if wait_for_cloud and not self._wait_for_cloud():
                return
            if operation == "resume":  # a create made again (its user's key kept), else the engine's
                restart.resume(self.engine, cluster_id, token)
            else:
                self.engine.run(cluster_id, operation, names, user_key, token)
        self._workers.submit(job)

    def _wait_for_cloud(self) -> bool:
        import time

        deadline = time.monotonic() + 120
        while not self.engine.stopping.is_set():
            try:
                self.access.admin().authorize()
                return True
            except Exception:  # noqa: BLE001 - the API may not listen yet
                self.access.close()
                if time.monotonic() > deadline:
                    log.error("clusters: the cloud did not answer in 120 s; pending work stays recorded")
                    return False
                time.sleep(0.5)
        return False

    # ---- reading ------------------------------------------------------------------------
    def _get(self, s, ctx: AuthContext, ref: str, action: str = "cluster:get") -> Cluster:
        """The cluster ``ref`` (id or name) of the caller's project (any project's by id, for
        an admin), once ``action`` is allowed on it: 404 if the caller cannot see it, 403 if it
        may see but not do."""
        rows = list(s.scalars(select(Cluster).where((Cluster.id == ref) | (Cluster.name == ref),
                                                    Cluster.project_id == ctx.project_id)))
        if not rows and ctx.is_admin:  # an admin reaches any project's cluster by its id
            rows = list(s.scalars(select(Cluster).where(Cluster.id == ref)))
        if not rows:
            raise NotFound(f"No cluster {ref[:80]!r} in this project.")
        c = next((r for r in rows if r.id == ref), rows[0])
        policy.enforce(ctx, action, {"project_id": c.project_id})
        return c

    def _view(self, s, c: Cluster, nodes: list[ClusterNode] | None = None) -> dict:
        if nodes is None:
            nodes = list(s.scalars(select(ClusterNode).where(ClusterNode.cluster_id == c.id)
                                   .order_by(ClusterNode.role.desc(), ClusterNode.name)))
        computes = [n for n in nodes if n.role == COMPUTE]
        return {
            "id": c.id, "name": c.name, "project_id": c.project_id, "user_id": c.user_id, "status": c.status,
            "status_reason": c.status_reason, "step": c.step, "operation": c.operation, "image": c.image,
            "image_id": c.image_id, "profile": c.profile, "profile_version": c.profile_version,
            "head_flavor": c.head_flavor, "node_flavor": c.node_flavor, "key_name": c.key_name or None,
            "keypair_generated": c.keypair_generated, "node_count": len(computes),
            "nodes_ready": sum(1 for n in computes if n.status == "ACTIVE"), "head_name": f"{c.name}-head",
            "floating_ip": c.floating_ip, "cidr": c.cidr or c.given_cidr, "network_id": c.network_id or c.given_network,
            "network_given": c.given_network is not None, "external_network_id": c.external_network,
            "keep_on_failure": c.keep_on_failure,
            "ready": readiness.choice(c), "users": [u["name"] for u in c.users or []],
            "options": _options(c), "queue": c.queue,
            "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at),
            "nodes": [self._node_view(c, n) for n in nodes],
        }

    @staticmethod
    def _node_view(c: Cluster, n: ClusterNode) -> dict:
        return {"name": f"{c.name}-head" if n.role == HEAD else n.name, "role": n.role, "status": n.status,
                "server_id": n.server_id, "fixed_ip": n.fixed_ip, "flavor": n.flavor, "created_at": _iso(n.created_at)}

    def list(self, ctx: AuthContext, all_projects: bool = False, name: str | None = None,
             status: str | None = None) -> list[dict]:
        if all_projects and not policy.allowed(ctx, "cluster:list_all_projects"):
            raise Forbidden("Only admins may list the clusters of all projects.")
        policy.enforce(ctx, "cluster:list", {"project_id": ctx.project_id})
        with self.db.read() as s:
            q = select(Cluster)
            if not all_projects:
                q = q.where(Cluster.project_id == ctx.project_id)
            if name is not None:
                q = q.where(Cluster.name == name)
            if status is not None:
                q = q.where(Cluster.status == status.upper())
            clusters = list(s.scalars(q.order_by(Cluster.created_at, Cluster.name)))
            nodes: dict[str, list] = {}
            if clusters:
                for n in s.scalars(select(ClusterNode).where(ClusterNode.cluster_id.in_([c.id for c in clusters]))
                                   .order_by(ClusterNode.role.desc(), ClusterNode.name)):
                    nodes.setdefault(n.cluster_id, []).append(n)
            views = [self._view(s, c, nodes.get(c.id, [])) for c in clusters]
        return [v for v in views if not self._finish_delete(ctx, v)]

    def profiles(self, ctx: AuthContext) -> list[dict]:
        """The profiles a cluster may have, with their versions."""
        policy.enforce(ctx, "profile:list")
        return [p.view() for p in profiles.PROFILES.values()]

    def show(self, ctx: AuthContext, ref: str) -> dict:
        with self.db.read() as s:
            view = self._view(s, self._get(s, ctx, ref))
        if self._finish_delete(ctx, view):
            raise NotFound(f"No cluster {ref[:80]!r} in this project.")
        return view

    def _finish_delete(self, ctx: AuthContext, view: dict) -> bool:
        """Finish a delete whose resources are gone but whose application credential is not
        (DELETING, no operation: caas was restarted since the delete was asked for, and a
        restricted credential cannot delete itself) with the token of its user's (or an admin's)
        request that reads it. True once the cluster is gone."""
        if view["status"] != DELETING or view["operation"] or not (ctx.user_id == view["user_id"] or ctx.is_admin):
            return False
        if self.credentials.remove(view["id"], ctx.token_id, view["project_id"]):
            return False
        self.engine.journal.erase(view["id"])
        return True

    def events(self, ctx: AuthContext, ref: str, since: int = 0) -> list[dict]:
        with self.db.read() as s:
            c = self._get(s, ctx, ref)
            rows = s.scalars(select(ClusterEvent).where(ClusterEvent.cluster_id == c.id, ClusterEvent.seq > since)
                             .order_by(ClusterEvent.seq).limit(5000))
            return [{"seq": e.seq, "time": e.time.isoformat(timespec="milliseconds") + "Z", "step": e.step,
                     "level": e.level, "message": e.message, "duration": e.duration} for e in rows]

    def samples(self, ctx: AuthContext, ref: str) -> list[dict]:
        """The cluster's size and queue over the last day (``clusters/queue.py``)."""
        with self.db.read() as s:
            c = self._get(s, ctx, ref)
        return queue.views(queue.samples(self.db, c.id))

    def nodes(self, ctx: AuthContext, ref: str) -> list[dict]:
        return self.show(ctx, ref)["nodes"]

    # ---- the cloud, for checks ----------------------------------------------------------
    def _cloud(self, ctx: AuthContext):
        """A connection on the caller's own token, in its project (authenticated now)."""
        try:
            conn = self.access.user(ctx.token_id, ctx.project_id)
            conn.authorize()
            return conn
        except Exception as exc:  # noqa: BLE001 - the next request makes a new connection
            self.access.forget_user(ctx.token_id, ctx.project_id)
            raise ServiceUnavailable(f"The cloud did not answer the cluster service: {cloud_message(exc)}") from None

    def _flavor(self, conn, ref: str) -> dict:
        return resolve.flavor(conn, ref, default=ref == self.settings.cluster_flavor)

    def _user_key(self, ctx: AuthContext, key_name: str) -> str:
        """The caller's keypair ``key_name``, read with its own token (no admin is needed: a
        portal in front of a cloud may have none)."""
        return resolve.user_key(self._cloud(ctx), key_name)

    # ---- create -------------------------------------------------------------------------
    @answers
    def plan(self, ctx: AuthContext, req: Request) -> dict:
        """What a create would make and use, and what does not fit (nothing is created)."""
        return self._plan(ctx, req)[0]

    def _plan(self, ctx: AuthContext, req: Request) -> tuple[dict, set[str], dict]:
        """The plan; the in-flight nodes the cloud's usage already counted; the head's and the
        nodes' flavors (name, vcpus, ram, disk)."""
        policy.enforce(ctx, "cluster:create", {"project_id": ctx.project_id})
        p = planning.validate(req)
        conn = self._cloud(ctx)
        missing = [t for t in p.needs if not conn.endpoint_for(t)]
        if missing:
            raise BadRequest(f"Profile {p.name} needs the cloud's {', '.join(missing)} service (for the shared "
                             "/home: OpenStack Shared File Systems, Manila), which this cloud's catalog does not "
                             "have.")
        image_id, image_name = resolve.image(conn, req.image or self.settings.cluster_image)
        head = self._flavor(conn, req.head_flavor or req.node_flavor or self.settings.cluster_flavor)
        node = self._flavor(conn, req.node_flavor or self.settings.cluster_flavor)
        if req.key_name:
            resolve.user_key(conn, req.key_name)
        where = resolve.placement(conn, ctx.project_id, req.network, req.external_network,
                                  req.ready == readiness.SSH)
        given, fip = where.network is not None, where.external is not None
        counted, held = quota.reservations(self.db, ctx.project_id)
        lines, short, checked = quota.check(conn, self.access, self.settings.scheduler_strategy, ctx.project_id,
                                            quota.need(req.node_count, head, node, True, given, fip), held,
                                            quota.servers(req.node_count, head, node))
        names = node_names.first(req.node_count, NODE_PREFIX, self.settings.cluster_node_width)
        cidr = None
        if not given:
            with self.db.read() as s:
                cidr = addresses.allocate(self.settings.cluster_cidr, planning.taken(s, ctx.project_id, req.name))
        n = req.name
        resources = planning.resources(n, cidr, head, node, image_name, names, fip)
        if "sharev2" in p.needs:  # the shared /home, made before the first server
            at = next(i for i, r in enumerate(resources) if r["kind"] == "port")
            resources.insert(at, {"kind": "share", "name": home.share_name(n)})
        return {"cluster": n, "cidr": cidr or where.network["cidr"], "image": image_name, "image_id": image_id,
                "profile": p.name, "profile_version": req.profile_version or p.default_version,
                "head_flavor": head["name"], "node_flavor": node["name"], "nodes": names,
                "keypair": req.key_name or "(generated)", "ready": req.ready, **where.view(), "resources": resources,
                **self._accounts(ctx, p, req),
                "quota": lines, "shortfalls": short, "capacity": checked}, counted, \
            {"head": head, "node": node, "placement": where}

    @staticmethod
    def _accounts(ctx: AuthContext, p, req: Request) -> dict:
        """The cluster's users (the creator's login first) and its profile's options, for a
        profile that has them."""
        if not p.prepare:
            return {}
        creator = cluster_users.login_for(ctx.user.name or ctx.user_id)
        return {"users": cluster_users.accounts(creator, req.users or []), "options": planning.options(req, p)}

    @answers
    def create(self, ctx: AuthContext, req: Request) -> tuple[dict, str | None]:
        """Check, record, and start the create; (the cluster, the generated private key or None)."""
        plan, counted, sizes = self._plan(ctx, req)
        if plan["shortfalls"]:
            raise QuotaShortfall(plan["shortfalls"])
        user_key, private = "", None
        if req.key_name:
            user_key = self._user_key(ctx, req.key_name)
        else:
            private, user_key = generate_key(f"caas-{req.name}")
        cluster_key, cluster_pub = generate_key(f"caas-cluster-{req.name}")
        credential, scaler = self._credentials(ctx, cid := new_id(), req)
        stale = None
        try:
            with self.db.write() as s:
                quota.claim(s, ctx.project_id, plan["quota"], counted)
                stale = self._replace_failed(s, ctx.project_id, req.name)
                given, ext = sizes["placement"].network or {}, sizes["placement"].external or {}
                cidr = None if given else addresses.allocate(self.settings.cluster_cidr,
                                                             planning.taken(s, ctx.project_id))
                c = Cluster(id=cid, project_id=ctx.project_id, user_id=ctx.user_id, name=req.name, cidr=cidr,
                            status=CREATING, status_reason="", step="queued", image=plan["image"],
                            image_id=plan["image_id"], profile=plan["profile"], profile_version=plan["profile_version"],
                            head_flavor=plan["head_flavor"], node_flavor=plan["node_flavor"],
                            key_name=req.key_name or "", keypair_generated=private is not None,
                            cluster_key=cluster_key, cluster_public_key=cluster_pub, user_public_key=user_key,
                            keep_on_failure=req.keep_on_failure, ready=req.ready, operation="create",
                            given_network=given.get("id"), given_subnet=given.get("subnet_id"),
                            given_cidr=given.get("cidr"), network_id=given.get("id"), external_network=ext.get("id"),
                            users=plan.get("users", []), options=plan.get("options", {}))
                s.add(c)
                s.flush()
                s.add(credential)
                if scaler is not None:
                    s.add(scaler)
                self._new_nodes(s, c, [HEAD_NAME], sizes["head"])
                self._new_nodes(s, c, plan["nodes"], sizes["node"])
                s.add(ClusterEvent(cluster_id=c.id, step="plan", message=(
                    f"accepted: {len(plan['resources'])} resources; " + ", ".join(
                        f"{q['resource']} {q['needed']} (of {q['in_use']}/{q['limit']})" for q in plan["quota"]))))
                quota.note_skipped(s, c.id, plan["capacity"])
                s.flush()
                view = self._view(s, c)
        except BaseException as exc:
            for made in filter(None, (credential, scaler)):
                self.credentials.discard(made, ctx.token_id, ctx.project_id)
            if isinstance(exc, IntegrityError):  # a create of the same name (or network) in the same instant won
                raise Conflict(f"Another cluster named {req.name!r} (or with the same network) was created at the "
                               "same time; try again.") from None
            raise
        if stale is not None:  # the failed cluster this one replaces kept its credential
            self.credentials.discard(stale, ctx.token_id, ctx.project_id)
        self._submit(c.id, "create", user_key=user_key, token=ctx.token_id)
        return view, private

    def _credentials(self, ctx: AuthContext, cid: str, req: Request) -> tuple:
        """The new cluster's application credential, and an elastic one's scaler credential."""
        credential = self.credentials.make(ctx, cid, req.name)
        if req.max_nodes is None:
            return credential, None
        try:
            return credential, self.credentials.make_scaler(ctx, cid, req.name)
        except BaseException:
            self.credentials.discard(credential, ctx.token_id, ctx.project_id)
            raise

    @staticmethod
    def _new_nodes(s, c: Cluster, names: list[str], flavor: dict) -> None:
        """The rows of the nodes ``names`` (the head: ``HEAD_NAME``) of flavor ``flavor``: on
        the cluster's own network with their fixed addresses, on a given one with none yet (the
        cloud chooses them when their ports are made)."""
        for name in names:
            head = name == HEAD_NAME
            ip = None if c.cidr is None else addresses.head_ip(c.cidr) if head else \
                addresses.node_ip(c.cidr, node_names.node_number(name)[1])
            s.add(ClusterNode(cluster_id=c.id, name=name, role=HEAD if head else COMPUTE, status=BUILDING,
                              flavor=flavor["name"], fixed_ip=ip, vcpus=flavor["vcpus"], ram=flavor["ram"]))

    @staticmethod
    def _replace_failed(s, project_id: str, name: str) -> ClusterCredential | None:
        """Make way for a new cluster ``name``: Conflict when the project has a cluster of that
        name, unless it is in ERROR, idle and owns no resource, and then it is forgotten.
        Returns its application credential's row, if it kept one (to be deleted in the cloud)."""
        old = s.scalar(select(Cluster).where(Cluster.project_id == project_id, Cluster.name == name))
        if old is None:
            return None
        owns = s.scalar(select(func.count()).select_from(ClusterResource).where(ClusterResource.cluster_id == old.id))
        if old.status != ERROR or owns or old.operation:
            raise Conflict(f"A cluster named {name!r} already exists in this project"
                           + (" (in ERROR, still owning resources: delete it first)." if old.status == ERROR else "."))
        stale = s.get(ClusterCredential, old.id)
        if stale is not None:
            s.expunge(stale)
        for model in (ClusterEvent, ClusterNode, ClusterCredential, ClusterScaler):
            s.execute(delete(model).where(model.cluster_id == old.id))
        s.delete(old)
        s.flush()
        return stale

    # ---- nodes and delete ---------------------------------------------------------------
    def _idle(self, s, ctx: AuthContext, ref: str, action: str, statuses: tuple[str, ...] = (ACTIVE,)) -> Cluster:
        """The cluster, idle in one of ``statuses`` (409 otherwise): nodes are added only to an
        ACTIVE cluster, and removed from an ACTIVE or a DEGRADED one (its down nodes too)."""
        c = self._get(s, ctx, ref, action)
        if c.status not in statuses or c.operation:
            raise Conflict(f"Cluster {c.name} is {c.status}{' (' + c.operation + ')' if c.operation else ''}: nodes "
                           f"can be {'added' if statuses == (ACTIVE,) else 'removed'} only when it is "
                           f"{' or '.join(statuses)}"
                           + (" (start its down nodes' servers, or remove those nodes)" if c.status == DEGRADED
                              else "") + ".")
        return c

    @staticmethod
    def _claim(s, c: Cluster, operation: str, names: list[str]) -> None:
        """The cluster is ours for ``operation`` on the nodes ``names`` (UPDATING), or someone
        else got it first: 409."""
        done = s.execute(update(Cluster).where(Cluster.id == c.id, Cluster.status.in_((ACTIVE, DEGRADED)),
                                               Cluster.operation.is_(None))
                         .values(status=UPDATING, operation=operation, operation_nodes=names, step="queued",
                                 status_reason="", updated_at=utcnow())).rowcount
        if not done:
            raise Conflict(f"Cluster {c.name} is busy.")

    @answers
    def add_nodes(self, ctx: AuthContext, ref: str, count: int | None, spec: str | None,
                  flavor: str | None) -> tuple[dict, list[str]]:
        if (count is None) == (spec is None):
            raise BadRequest("Give either count or names.")
        with self.db.read() as s:
            c = self._idle(s, ctx, ref, "cluster:add_nodes")
            existing = self._compute_names(s, c.id)
            s.expunge(c)
        if not profiles.profile(c.profile, c.profile_version).compute_nodes:
            raise BadRequest(f"Cluster {c.name} has profile {c.profile}: a head node only.")
        if count is not None:
            if not 1 <= count <= MAX_NODES:
                raise BadRequest(f"count must be between 1 and {MAX_NODES}.")
            wanted = node_names.next_free(existing, count, NODE_PREFIX, self.settings.cluster_node_width)
        else:
            wanted = node_names.parse_names(spec)
            self._check_names(wanted)
            taken = sorted(set(wanted) & set(existing))
            numbers = {node_names.node_number(n)[1]: n for n in existing}
            clash = [w for w in wanted if node_names.node_number(w)[1] in numbers and w not in existing]
            if taken or clash:
                raise Conflict(f"Cluster {c.name} already has node(s) {node_names.compact(taken or clash)}.")
        if len(existing) + len(wanted) > MAX_NODES:
            raise BadRequest(f"A cluster has at most {MAX_NODES} compute nodes.")
        return self._add(ctx, c, wanted, flavor or c.node_flavor, self._cloud(ctx), f"adding {node_names.compact(wanted)}")

    def _add(self, ctx: AuthContext, c: Cluster, wanted: list[str], flavor: str, conn, why: str) -> tuple[dict, list[str]]:
        """Check the quota for nodes ``wanted`` of ``flavor`` (through ``conn``), record them and
        start the add; ``why`` is its event."""
        node_flavor = self._flavor(conn, flavor)
        counted, held = quota.reservations(self.db, c.project_id)
        lines, short, checked = quota.check(conn, self.access, self.settings.scheduler_strategy, c.project_id,
                                            quota.need(len(wanted), None, node_flavor, False), held,
                                            quota.servers(len(wanted), None, node_flavor))
        if short:
            raise QuotaShortfall(short, f"Cluster {c.name}: {node_names.compact(wanted)} do not fit, nothing was "
                                        "added")
        with self.db.write() as s:
            quota.claim(s, c.project_id, lines, counted)
            self._claim(s, c, "add", wanted)
            self._new_nodes(s, c, wanted, node_flavor)
            s.add(ClusterEvent(cluster_id=c.id, step="add", message=why))
            quota.note_skipped(s, c.id, checked)
            s.flush()
            view = self._view(s, s.get(Cluster, c.id))
        user_key = c.user_public_key or (self._user_key(ctx, c.key_name) if c.key_name else "")
        self._submit(c.id, "add", wanted, user_key=user_key, token=ctx.token_id)
        return view, wanted

    def _check_names(self, wanted: list[str]) -> None:
        for n in wanted:
            prefix, number, _ = node_names.node_number(n)
            if prefix != NODE_PREFIX:
                raise BadRequest(f"Compute node names are {NODE_PREFIX} followed by a number (node001); got {n!r}.")
            if number > addresses.max_nodes():
                raise BadRequest(f"Node numbers go up to {addresses.max_nodes()}; got {n!r}.")

    @answers
    def remove_nodes(self, ctx: AuthContext, ref: str, spec: str) -> tuple[dict, list[str]]:
        wanted = node_names.parse_names(spec)
        with self.db.write() as s:
            c = self._idle(s, ctx, ref, "cluster:remove_nodes", (ACTIVE, DEGRADED))
            have = set(self._compute_names(s, c.id))
            missing = [w for w in wanted if w not in have]
            if missing:
                raise NotFound(f"Cluster {c.name} has no node(s) {node_names.compact(missing)}.")
            view = self._removal(s, c, "remove", wanted, f"removing {node_names.compact(wanted)}")
        self._submit(c.id, "remove", wanted, token=ctx.token_id)
        return view, wanted

    @staticmethod
    def _compute_names(s, cluster_id: str) -> list[str]:
        return list(s.scalars(select(ClusterNode.name).where(ClusterNode.cluster_id == cluster_id,
                                                             ClusterNode.role == COMPUTE)))

    def _removal(self, s, c: Cluster, operation: str, wanted: list[str], message: str) -> dict:
        """The cluster ours for ``operation`` (remove, suspend) of the nodes ``wanted``, each
        DELETING, the event said; the cluster's view (the caller submits the work)."""
        self._claim(s, c, operation, wanted)
        s.execute(update(ClusterNode).where(ClusterNode.cluster_id == c.id, ClusterNode.name.in_(wanted))
                  .values(status=NODE_DELETING))
        s.add(ClusterEvent(cluster_id=c.id, step=operation, message=message))
        s.flush()
        return self._view(s, s.get(Cluster, c.id))

    @answers
    def delete(self, ctx: AuthContext, ref: str) -> dict:
        """Ask for the delete (202): at once when the cluster is idle, else at the running
        work's next step. Repeating it is harmless (and finishes a delete that waits for its
        credential to go, ``_finish_delete``)."""
        with self.db.write() as s:
            c = self._get(s, ctx, ref, "cluster:delete")
            repeat, busy = c.status == DELETING, c.operation is not None
            if not repeat:
                c.status = DELETING
                c.status_reason = ""
                if not busy:
                    c.operation = "delete"
                    c.step = "queued"
                s.add(ClusterEvent(cluster_id=c.id, step="delete", message="delete requested"
                                   + (f" (stopping the running {c.operation})" if busy else "")))
                s.flush()
            view = self._view(s, c)
        if repeat:
            self._finish_delete(ctx, view)
        elif not busy:
            self._submit(c.id, "delete", token=ctx.token_id)
        return view


__all__ = ["ClusterService", "Request", "QuotaShortfall"]
