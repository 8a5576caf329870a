"""Elastic Slurm clusters: Slurm's power saving asks caas for nodes.

An elastic cluster (``max_nodes`` given) has every node up to ``max_nodes`` in its
``slurm.conf`` from the start; the ones that do not exist are CLOUD nodes, powered down. When
jobs wait for nodes, slurmctld runs its ResumeProgram (``caas-resume NODELIST``) on the head,
which asks caas for exactly those nodes by name (``POST /caas/v1/clusters/{id}/scale``); after
``idle_time`` seconds idle, its SuspendProgram (``caas-suspend NODELIST``) asks caas to remove
them (never one of the ``min_nodes`` kept, ``SuspendExcNodes``; never one running a job: Slurm
suspends idle nodes only). The programs authenticate with the cluster's **scaler** credential:
an application credential of the cluster's creator whose access rules allow that one call on
that one cluster (``credentials.ClusterCredentials.make_scaler``); caas then does the work on
the cluster's own credential, as for every other change of the cluster.

The programs are Python (the standard library only: every image with cloud-init has python3),
written to the head by its cloud-config with ``scaler.json`` (the credential, caas's Keystone
and cluster URLs as the instances reach them: ``Settings.guest_url``), readable by the slurm
user only.
"""

from __future__ import annotations

import json

from caas.clusters import readiness, slurm
from caas.clusters.cloudconfig import Boot, text_file
from caas.clusters.work import StepFailed

PROGRAM = r'''#!/usr/bin/python3
"""caas's resume/suspend program for Slurm's power saving (written by caas): asks caas for (or to
remove) exactly the nodes Slurm names; retries while the cluster is busy; a refused resume (the
project's quota, say) marks the nodes down in Slurm with caas's reason. Log: LOG."""
import json, os, subprocess, sys, time, urllib.error, urllib.request

CONF, LOG = "SCALER_CONF", "/var/log/slurm/caas-scaler.log"
ACTION = {"caas-resume": "resume", "caas-suspend": "suspend", "caas-resume-fail": "failed"}[os.path.basename(sys.argv[0])]


def log(message):
    with open(LOG, "a") as f:
        f.write("%s %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), ACTION, message))


def call(url, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers.get("X-Subject-Token"), r.read()


def main():
    conf = json.load(open(CONF))
    names = subprocess.run(["scontrol", "show", "hostnames", sys.argv[1]], capture_output=True, text=True,
                           check=True).stdout.split()
    auth = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "id": conf["credential_id"], "secret": conf["credential_secret"]}}}}
    deadline = time.monotonic() + 600
    while True:
        try:
            token, _ = call(conf["auth_url"] + "/auth/tokens", auth)
            call(conf["cluster_url"] + "/scale", {"scale": {"action": ACTION, "names": names}}, token)
            log("asked for %s" % " ".join(names))
            return 0
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")[:300]
            if e.code not in (409, 429, 500, 502, 503) or time.monotonic() > deadline:
                log("refused (%d) for %s: %s" % (e.code, " ".join(names), text))
                if ACTION == "resume":  # Slurm says why its jobs wait (sinfo -R), not only a timeout later
                    why = "".join(c if c.isalnum() or c in " .,:_/-" else " " for c in text)
                    subprocess.run(["scontrol", "update", "nodename=" + sys.argv[1], "state=down",
                                    "reason=caas refused: " + why[:200]], check=False)
                return 1
            log("busy (%d), retrying: %s" % (e.code, text))
        except (OSError, ValueError) as e:
            if time.monotonic() > deadline:
                log("failed for %s: %s" % (" ".join(names), e))
                return 1
            log("no answer, retrying: %s" % e)
        time.sleep(1)


sys.exit(main())
'''


def programs() -> list[dict]:
    text = PROGRAM.replace("SCALER_CONF", slurm.SCALER_CONF)
    return [text_file(path, text, "0755") for path in (slurm.RESUME, slurm.SUSPEND, slurm.RESUME_FAIL)]


def part(b: Boot) -> dict:
    """On the head of an elastic cluster (``Boot.extra['scaler']``): the programs and their
    configuration (owned by slurm, mode 0600: slurmctld runs them as the slurm user)."""
    conf = b.extra.get("scaler")
    if not conf or not b.head:
        return {}
    return {"write_files": [*programs(), text_file(slurm.SCALER_CONF, conf_text(conf), "0600")],
            "runcmd": [["sh", "-c", f"chown slurm:slurm {slurm.SCALER_CONF} && chmod 0600 {slurm.SCALER_CONF}"]]}


def conf_text(conf: dict) -> str:
    return json.dumps(conf, indent=1) + "\n"


def conf_for(engine, cluster_id: str) -> dict | None:
    """``scaler.json`` of the cluster: its scaler credential and caas as the instances reach it
    (None: the cluster has no scaler credential, it is not elastic)."""
    secret = engine.credentials.scaler(cluster_id)
    if secret is None:
        return None
    return {"credential_id": secret[0], "credential_secret": secret[1], "auth_url": engine.access.guest_auth_url(),
            "cluster_url": f"{engine.settings.guest_url}/caas/v1/clusters/{cluster_id}"}


def install(engine, work, notes: list[str]) -> None:
    """On a running cluster made elastic: the programs and their configuration on the head (the
    configuration as the head's cloud-config writes it at create)."""
    if not readiness.guest_checks(engine.settings, work.cluster):
        notes.append(readiness.why_not(engine.settings))
        return
    conf = conf_for(engine, work.id)
    head = engine._head(work)
    head.run("mkdir -p /etc/caas /usr/local/sbin", timeout=30)
    for f in programs():
        head.put(f["path"], f["content"], 0o755)
    head.put(slurm.SCALER_CONF, conf_text(conf), 0o600)
    status, out = head.run(f"chown slurm:slurm {slurm.SCALER_CONF}", timeout=30)
    if status != 0:
        raise StepFailed(f"could not give the scaler's configuration to the slurm user: {out.strip()[:200]}")
    notes.append("the resume and suspend programs and the scaler credential on the head")
