"""The ``slurm`` profile: Slurm (the release Debian's ``slurm-wlm`` and ``munge`` packages give,
on the host image and on cloud images alike) on top of ``base``.

- A munge key per cluster, derived from the cluster's own key (HKDF), so it is as secret as that
  key and needs no store of its own.
- ``slurmctld`` on the head with the cluster's ``slurm.conf`` (``conf``: one line per compute
  node with the CPUs and memory of its flavor; one partition ``batch`` with every node, and one
  per node flavor when the cluster asks for ``partitions: flavor``). The nodes run ``slurmd`` in
  Slurm's configless mode: they fetch the configuration from the head, so a change of nodes is
  written once, on the head, and ``scontrol reconfigure`` hands it to every slurmd without
  restarting anything on the nodes that stay.
- Process tracking by /proc (``proctrack/linuxproc``, ``task/none``): the nodes may be
  containers with no cgroup file system of their own (the netns driver's), where Slurm 22.05's
  cgroup autodetection fails; there the head's ``cgroup.conf`` names the v1 plugin, which then
  stays unused.
- Daemons are started with systemd where the image runs it, else directly.

Steps of its own (the profile's hooks, ``profiles.SLURM``): a create checks, after ``ready``,
that Slurm sees every node responding; an add writes the new nodes into the configuration once
the head's /etc/hosts names them (the controller restarts; jobs survive it) and waits for them;
a removal drains the nodes first (waiting for their jobs to end), and takes them out of the
configuration afterwards; a suspend (an elastic cluster's) only the latter.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from caas.clusters import readiness
from caas.clusters.cloudconfig import Boot, secret_file, text_file
from caas.clusters.models import COMPUTE, NODE_PREFIX
from caas.clusters.work import StepFailed, Work

VERSION = "22.05"
CONF = "/etc/slurm/slurm.conf"
MUNGE_KEY = "/etc/munge/munge.key"
RESUME, SUSPEND, RESUME_FAIL = "/usr/local/sbin/caas-resume", "/usr/local/sbin/caas-suspend", "/usr/local/sbin/caas-resume-fail"
SCALER_CONF = "/etc/caas/scaler.json"  # the scaler's credential and caas's address, for the programs above
RESUME_TIMEOUT = 300
PARTITION = "batch"
PARTITIONS = ("one", "flavor")
# states in which a node answers the controller and takes work
UP_STATES = {"idle", "allocated", "mixed", "completing", "reserved", "planned"}
POLL = 0.3
IDLE_TIME = 600  # seconds an elastic node above the minimum stays idle before it goes (ParallelCluster's)


def munge_key(cluster_key: str) -> bytes:
    """The cluster's munge key (1,024 bits): HKDF-SHA256 of the cluster's private key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=128, salt=None, info=b"caas cluster munge key").derive(
        cluster_key.encode())


def memory(ram_mb: int) -> int:
    """The RealMemory of a node of ``ram_mb``: 90 % of the flavor, as a VM's kernel keeps some
    (slurmd refuses a node that has less than it is said to)."""
    return max(int(ram_mb) * 9 // 10, 1)


def partition_name(flavor: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", flavor)[:40] or "flavor"


@dataclass(frozen=True)
class Elastic:
    """An elastic cluster's nodes as Slurm knows them: ``names`` (node001 up to max_nodes)
    beyond the ones that exist are CLOUD nodes of ``size`` ({vcpus, ram, flavor}), powered down
    until Slurm resumes them; ``keep`` of them are never suspended; ``idle`` seconds idle
    before Slurm suspends one."""

    names: tuple[str, ...]
    size: dict
    keep: int
    idle: int


def power_saving(e: Elastic) -> list[str]:
    """Slurm's power saving, with caas's resume and suspend programs: checked every second
    (Slurm's default is every 10), so a job waits for its nodes' boot, not for the controller."""
    everyone = hostlist(e.names)
    lines = [f"ResumeProgram={RESUME}", f"SuspendProgram={SUSPEND}", f"ResumeFailProgram={RESUME_FAIL}",
             f"SuspendTime={e.idle}", "SuspendTimeout=30", f"ResumeTimeout={RESUME_TIMEOUT}", "ResumeRate=0",
             "SuspendRate=0", "TreeWidth=65533", "PrivateData=cloud"]
    if e.keep:
        lines.append(f"SuspendExcNodes={everyone}:{e.keep}")
    return lines


def hostlist(names) -> str:
    """Slurm's hostlist expression of node names nodeNNN (one bracket of every number)."""
    numbers = ",".join(n[len(NODE_PREFIX):] for n in sorted(names))
    return f"{NODE_PREFIX}[{numbers}]" if numbers else ""


def conf(cluster_name: str, nodes: list[dict], partitions: str = "one", elastic: Elastic | None = None) -> str:
    """``slurm.conf`` of a cluster whose compute nodes are ``nodes`` ({name, vcpus, ram, flavor})
    (and, when ``elastic``, the CLOUD nodes Slurm may resume)."""
    head = f"{cluster_name}-head"
    lines = [
        f"# the Slurm configuration of cluster {cluster_name}, written by caas; rewritten when nodes come and go",
        f"ClusterName={cluster_name.replace('-', '_')}",
        f"SlurmctldHost={head}",
        "SlurmctldParameters=enable_configless" + (",cloud_reg_addrs,idle_on_node_suspend,power_save_interval=1,"
                                                   "power_save_min_interval=0" if elastic else ""),
        "AuthType=auth/munge", "CredType=cred/munge",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
        "SlurmUser=slurm", "SlurmdUser=root",
        "StateSaveLocation=/var/lib/slurm/slurmctld", "SlurmdSpoolDir=/var/lib/slurm/slurmd",
        "SlurmctldPidFile=/run/slurmctld.pid", "SlurmdPidFile=/run/slurmd.pid",
        "SlurmctldLogFile=/var/log/slurm/slurmctld.log", "SlurmdLogFile=/var/log/slurm/slurmd.log",
        "SwitchType=switch/none", "MpiDefault=pmix",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "ReturnToService=2", "SlurmdTimeout=60", "CommunicationParameters=NoAddrCache",
    ]
    if elastic is not None:
        lines += power_saving(elastic)
    have = {n["name"] for n in nodes}
    cloud = [{"name": name, **elastic.size} for name in elastic.names if name not in have] if elastic else []
    ordered = sorted([*nodes, *cloud], key=lambda n: n["name"])
    for n in ordered:
        lines.append(f"NodeName={n['name']} CPUs={max(int(n['vcpus']), 1)} RealMemory={memory(n['ram'])} "
                     f"State={'UNKNOWN' if n['name'] in have else 'CLOUD'}")
    names = ",".join(n["name"] for n in ordered)
    lines.append(f"PartitionName={PARTITION} Nodes={names or 'ALL'} Default=YES MaxTime=INFINITE State=UP")
    if partitions == "flavor":
        by: dict[str, list[str]] = {}
        for n in ordered:
            by.setdefault(partition_name(n["flavor"]), []).append(n["name"])
        for name, members in sorted(by.items()):
            if name != PARTITION:
                lines.append(f"PartitionName={name} Nodes={','.join(members)} MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


def _daemons(b: Boot) -> str:
    """Start munge and the node's Slurm daemon (systemd's units where it runs, else directly)."""
    head = b.head_host
    prepare = "\n".join([
        "set -e",
        "install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge",
        "install -d -o munge -g munge -m 0755 /run/munge",
        f"chown munge:munge {MUNGE_KEY} && chmod 0400 {MUNGE_KEY}",
        "install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm",
        "install -d -m 0755 /var/lib/slurm/slurmd",
    ])
    if b.head:
        # Slurm 22.05's cgroup autodetection fails without a cgroup file system (a container):
        # name the v1 plugin there, which proctrack/linuxproc and task/none never use
        cgroup = ('case "$(stat -fc %T /sys/fs/cgroup/ 2>/dev/null)" in cgroup2fs) ;; *) '
                  '[ "$(stat -fc %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ] || '
                  'echo CgroupPlugin=cgroup/v1 > /etc/slurm/cgroup.conf ;; esac')
        start = "\n".join([
            cgroup,
            "if [ -d /run/systemd/system ]; then systemctl enable munge slurmctld && systemctl restart munge "
            "&& systemctl restart slurmctld",
            "else runuser -u munge -- /usr/sbin/munged && /usr/sbin/slurmctld </dev/null >/dev/null 2>&1; fi",
        ])
    else:
        # configless: slurmd fetches the configuration from the head, which may not know this
        # node yet (an add writes it there once the node's address is known) or may still be
        # starting: slurmd runs supervised and is started again until it stays (systemd's
        # Restart= where systemd runs, else a loop of the node's own)
        start = "\n".join([
            f"echo 'SLURMD_OPTIONS=\"--conf-server {head}\"' > /etc/default/slurmd",
            "if [ -d /run/systemd/system ]; then",
            "  mkdir -p /etc/systemd/system/slurmd.service.d",
            "  printf '[Service]\\nRestart=always\\nRestartSec=1\\n' > /etc/systemd/system/slurmd.service.d/caas.conf",
            "  systemctl daemon-reload && systemctl enable munge slurmd && systemctl restart munge && "
            "systemctl restart slurmd",
            "else runuser -u munge -- /usr/sbin/munged",
            # -b: report a boot now. A container's uptime is the host's, older than the resume Slurm
            # asked for, and slurmctld waits for a node it powers up to have booted since
            f"  nohup sh -c 'while :; do /usr/sbin/slurmd -D -b --conf-server {head} >/dev/null 2>&1; sleep 1; done' "
            ">/dev/null 2>&1 &",
            "fi",
        ])
    return prepare + "\n" + start


def part(b: Boot) -> dict:
    """Every node: the munge key, its daemon; the head: ``slurm.conf`` (``Boot.extra['slurm_conf']``)."""
    files = [secret_file(MUNGE_KEY, munge_key(b.cluster_key), "0400")]
    if b.head:
        files.append(text_file(CONF, b.extra["slurm_conf"]))
    return {"write_files": files, "packages": ["munge", "slurmctld" if b.head else "slurmd", "openmpi-bin"],
            "runcmd": [["sh", "-c", _daemons(b)]]}


def conf_of(engine, work: Work, without: list[str] = ()) -> str:
    """The cluster's slurm.conf from its nodes as recorded (but ``without``), and for an
    elastic cluster every node up to max_nodes (``Elastic``)."""
    c = work.cluster
    nodes = [{"name": n.name, "vcpus": n.vcpus, "ram": n.ram, "flavor": n.flavor}
             for n in engine.journal.nodes(c.id) if n.role == COMPUTE and n.name not in without]
    options = c.options or {}
    elastic = None
    if options.get("max_nodes"):
        from caas.clusters import names as node_names, resolve

        size = resolve.flavor(work.conn, c.node_flavor, default=False)
        elastic = Elastic(tuple(node_names.first(int(options["max_nodes"]), NODE_PREFIX,
                                                 engine.settings.cluster_node_width)),
                          {"vcpus": size["vcpus"], "ram": size["ram"], "flavor": size["name"]},
                          int(options.get("min_nodes") or 0), int(options.get("idle_time") or IDLE_TIME))
    return conf(c.name, nodes, options.get("partitions") or "one", elastic)


def node_list(text: str) -> list[str]:
    """What slurmctld must restart for in a slurm.conf: its nodes (but their initial states)
    and partitions."""
    return sorted(re.sub(r" State=\S+", "", line) for line in text.splitlines()
                  if line.startswith(("NodeName=", "PartitionName=")))


# ---- steps on the head (over the cluster's SSH session) -------------------------------------------
def _states(head) -> dict[str, str]:
    _, out = head.run("sinfo -h -N -o '%N %T' 2>/dev/null; true", timeout=30)
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1].lower()
    return states


def wait_responding(engine, work: Work, names: list[str]) -> str:
    """Until Slurm sees every node of ``names`` responding (idle, allocated ...)."""
    head = engine._head(work)
    deadline, states = engine._deadline(), {}
    while True:
        states = _states(head)
        late = [n for n in names if states.get(n) not in UP_STATES]
        if not late:
            return f"Slurm sees {len(names)} node(s) responding"
        if time.monotonic() > deadline:
            raise StepFailed("Slurm does not see node(s) responding: " + ", ".join(
                f"{n} ({states.get(n, 'unknown to Slurm')})" for n in late[:10]))
        engine._checkpoint(work)
        time.sleep(POLL)


def _guests(engine, work: Work) -> bool:
    return readiness.guest_checks(engine.settings, work.cluster)


def check(engine, work: Work, notes: list[str]) -> None:
    """After ``ready``: Slurm's controller answers and every compute node responds."""
    if not _guests(engine, work):
        notes.append(readiness.why_not(engine.settings))
        return
    nodes = [n.name for n in (work.nodes or engine.journal.nodes(work.id)) if n.role == COMPUTE]
    head = engine._head(work)
    if nodes and work.ids.get("slurm_restarted"):  # the slurmds that stay learn the new node list
        status, out = head.run("scontrol reconfigure 2>&1", timeout=60)
        if status != 0:
            raise StepFailed(f"scontrol reconfigure failed on the head: {out.strip()[:300]}")
    notes.append(wait_responding(engine, work, nodes))


def restart_controller(head) -> None:
    """slurmctld again with the configuration on disk (running jobs survive it: their state is
    saved, their steps run on the nodes)."""
    script = "\n".join([
        "if [ -d /run/systemd/system ]; then systemctl restart slurmctld; exit $?; fi",
        "if [ -f /run/slurmctld.pid ]; then pid=$(cat /run/slurmctld.pid); kill -TERM \"$pid\" 2>/dev/null; "
        "for i in $(seq 100); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.1; done; fi",
        "/usr/sbin/slurmctld </dev/null >/dev/null 2>&1",
        "for i in $(seq 300); do scontrol ping >/dev/null 2>&1 && exit 0; sleep 0.1; done",
        "echo 'slurmctld does not answer' >&2; exit 1",
    ])
    status, out = head.run(script, timeout=60)
    if status != 0:
        raise StepFailed(f"slurmctld did not restart on the head: {out.strip()[:300]}")


def configure(engine, work: Work, notes: list[str]) -> None:
    """The cluster's nodes as recorded now into slurm.conf on the head; the controller restarted
    when its node list changed (Slurm 22.05 cannot add or remove a node by reconfiguring): an
    elastic cluster's list holds every node it may have, so a resume or a suspend changes
    nothing there."""
    if not _guests(engine, work):
        notes.append(readiness.why_not(engine.settings))
        return
    removing = work.operation in ("remove", "suspend")
    head = engine._head(work)
    new = conf_of(engine, work, work.names if removing else [])
    _, old = head.run(f"cat {CONF} 2>/dev/null; true", timeout=30)
    if node_list(old) == node_list(new):
        notes.append("Slurm's node list is unchanged (nothing restarted)")
        return
    head.put(CONF, new)
    restart_controller(head)
    work.ids["slurm_restarted"] = "yes"
    if removing:
        head.run("scontrol reconfigure >/dev/null 2>&1; true", timeout=60)
    count = sum(1 for line in node_list(new) if line.startswith("NodeName="))
    notes.append(f"slurm.conf rewritten on the head; slurmctld restarted with {count} node(s)")


def rolled_back(engine, work: Work, names: list[str], reason: str) -> None:
    """After an add's rollback: slurm.conf without the nodes again (an elastic cluster keeps
    them, powered down), and in Slurm each marked DOWN with the reason, then powered down
    again, so that Slurm retries the jobs that wait for them."""
    work.operation, work.names = "remove", list(names)
    configure(engine, work, [])
    if not (work.cluster.options or {}).get("max_nodes"):
        return
    head = engine._head(work)
    hosts = ",".join(names)
    why = re.sub(r"[^A-Za-z0-9 .,:_/-]", " ", f"caas: {reason}")[:200]
    head.run(f"scontrol update nodename={hosts} state=down reason='{why}' >/dev/null 2>&1; "
             f"scontrol update nodename={hosts} state=power_down_force >/dev/null 2>&1; true", timeout=60)
    engine.journal.event(work.id, "rollback", f"marked {hosts} down in Slurm ({why}), then powered down: Slurm "
                                              "asks for them again while jobs wait")


def drain(engine, work: Work, notes: list[str]) -> None:
    """Before a removal: Slurm gives the nodes no new job, and their running jobs end."""
    if not _guests(engine, work):
        notes.append(readiness.why_not(engine.settings))
        return
    head = engine._head(work)
    names = ",".join(work.names)
    status, out = head.run(f"scontrol update nodename={names} state=drain reason=caas_remove 2>&1", timeout=60)
    if status != 0 and "Invalid node name" not in out:
        raise StepFailed(f"Slurm did not drain {names}: {out.strip()[:300]}")
    deadline = engine._deadline()
    while True:
        _, jobs = head.run(f"squeue -h -w {names} -o %i 2>/dev/null; true", timeout=30)
        running = jobs.split()
        if not running:
            notes.append(f"drained in Slurm: {names}")
            return
        if time.monotonic() > deadline:
            head.run(f"scontrol update nodename={names} state=resume >/dev/null 2>&1; true", timeout=60)
            raise StepFailed(f"jobs still run on {names}: {', '.join(running[:10])} (scancel them, or wait)")
        engine._checkpoint(work)
        time.sleep(1)
