"""The slurm profile on real instances (the netns driver), as a user of their own project (alice):

- ``caas cluster create hpc --image host --profile slurm -n 3`` ends ACTIVE, and Slurm sees the
  three nodes;
- as the cluster's user alice (her login, her key, not root): ``srun -N 2 hostname`` prints two
  node names; a file written under /home/alice on node001 is read on node002 (the shared /home,
  a share of the cloud's Shared File Systems service the driver attaches at boot); an MPI
  program (Debian's Open MPI, built on the head with mpicc) runs across 3 nodes and prints its
  ranks; ``sbatch --wait`` runs a batch job whose output lands in her home;
- ``os_node create hpc -n 1`` adds node004 to Slurm without restarting slurmd on the nodes that
  stay; ``caas node remove hpc node004`` drains it and takes it out of Slurm; no file is lost;
- ``os_cluster delete hpc`` leaves no server, port, share or kernel object;
- elastic: ``--min-nodes 0 --max-nodes 8 --idle-time 30`` with no node: ``sbatch -N 6 --wrap
  'srun hostname'`` completes on six nodes Slurm asked caas for by name (events say so), a
  node running a job is kept past the idle time, and the idle ones go again: ``sinfo`` shows
  them powered down, caas has no server left for them; the queue and the samples say so too.

SQLite only, as the other netns tests; the tests run in order and share one ``caas up``."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from tests.clusters.common import API, crash, leftovers, set_quota
from tests.conftest import client_for, issue_token
from tests.e2e import kernel
from tests.e2e.test_netns_clusters import computes, on_head, run, show, start_cloud, user
from tests.e2e.test_openstack_cli import OPENSTACK

pytestmark = [pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed"),
              pytest.mark.skipif(kernel.netns_missing() is not None, reason=str(kernel.netns_missing())),
              pytest.mark.skipif(shutil.which("slurmctld", path="/usr/sbin:/usr/bin") is None
                                 or shutil.which("munged", path="/usr/sbin:/usr/bin") is None,
                                 reason="Debian's slurmctld, slurmd and munge are not installed on the host image")]

HELLO = r"""#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
  int rank, size, len; char host[256];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(host, &len);
  printf("rank %d of %d on %s\n", rank, size, host);
  MPI_Finalize();
  return 0;
}
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    srv = start_cloud(tmp_path_factory, "netns-slurm")
    yield srv
    kernel.stop_and_clean(srv, srv.before)


@pytest.fixture(scope="module")
def alice(cloud):
    m = user(cloud, "alice")
    with client_for(cloud, issue_token(cloud)) as admin:
        set_quota(admin, m["project_id"], instances=30, cores=60, ram=65536)
    return m


def as_user(env: dict, cluster: str, script: str, node: str | None = None, timeout: float = 120) -> str:
    args = ["caas", "cluster", "ssh", cluster] + ([node] if node else []) + ["-l", "alice", "--", script]
    return run(env, *args, timeout=timeout).stdout


def as_alice(env: dict, script: str, node: str | None = None, timeout: float = 120) -> str:
    return as_user(env, "hpc", script, node, timeout)


def messages(cloud, who: dict, cluster: str) -> list[str]:
    with client_for(cloud, issue_token(cloud, who["name"], who["password"], who["name"])) as c:
        return [e["message"] for e in c.get(f"/caas/v1/clusters/{cluster}/events").json()["events"]]


def sinfo_of(env: dict, cluster: str) -> dict[str, str]:
    out = on_head(env, cluster, "sinfo -h -N -o '%N %T'")
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


def events(cloud, who: dict) -> list[str]:
    with client_for(cloud, issue_token(cloud, who["name"], who["password"], who["name"])) as c:
        return [e["step"] for e in c.get("/caas/v1/clusters/hpc/events").json()["events"]]


def sinfo(env: dict) -> dict[str, str]:
    return sinfo_of(env, "hpc")


def test_create_a_slurm_cluster(cloud, alice):
    t0 = time.monotonic()
    run(alice["env"], "caas", "cluster", "create", "hpc", "--image", "host", "--profile", "slurm", "-n", "3",
        timeout=300)
    print(f"caas cluster create hpc --profile slurm -n 3: {time.monotonic() - t0:.1f} s")
    v = show(alice["env"], "hpc")
    assert v["status"] == "ACTIVE" and computes(v) == ["node001", "node002", "node003"]
    assert v["profile"] == "slurm" and v["profile_version"] == "22.05" and v["users"] == ["alice"]
    assert sinfo(alice["env"]) == {"node001": "idle", "node002": "idle", "node003": "idle"}
    steps = events(cloud, alice)
    assert "home" in steps and steps[-2:] == ["slurm", "create"]


def test_jobs_run_as_the_clusters_user(alice):
    assert as_alice(alice["env"], "id -un; echo $HOME").split() == ["alice", "/home/alice"]
    names = as_alice(alice["env"], "srun -N 2 hostname").split()
    assert len(names) == 2 and set(names) <= {"node001", "node002", "node003"} and len(set(names)) == 2
    # the job's processes are alice's on the node
    assert as_alice(alice["env"], "srun -N 1 -w node003 id -un").strip() == "alice"


def test_home_is_shared_between_the_nodes(alice):
    as_alice(alice["env"], "echo written-on-node001 > ~/shared.txt", node="node001")
    assert as_alice(alice["env"], "cat ~/shared.txt", node="node002").strip() == "written-on-node001"
    assert on_head(alice["env"], "hpc", "stat -c %U /home/alice/shared.txt").strip() == "alice"
    # from node002, alice reaches node003 by name with her own cluster key
    assert as_alice(alice["env"], "ssh node003 hostname", node="node002").strip() == "node003"


def test_an_mpi_program_runs_across_three_nodes(alice):
    as_alice(alice["env"], f"cat > ~/hello.c <<'EOF'\n{HELLO}EOF\nmpicc -o ~/hello ~/hello.c")
    out = as_alice(alice["env"], "srun -N 3 ~/hello")
    ranks = sorted(re.findall(r"rank (\d) of 3 on (node\d+)", out))
    assert [r for r, _ in ranks] == ["0", "1", "2"], out
    assert sorted(h for _, h in ranks) == ["node001", "node002", "node003"]


def test_a_batch_job_writes_to_home(alice):
    out = as_alice(alice["env"], "cd ~ && sbatch --parsable --wait -N 2 --wrap 'srun hostname'", timeout=120)
    job = out.strip().splitlines()[-1]
    assert job.isdigit()
    assert sorted(as_alice(alice["env"], f"cat ~/slurm-{job}.out").split()) == ["node001", "node002"]


def test_added_and_removed_nodes_come_and_go_in_slurm(cloud, alice):
    before = on_head(alice["env"], "hpc", "ssh node001 cat /run/slurmd.pid").strip()
    run(alice["env"], "os_node", "create", "hpc", "-n", "1", timeout=300)
    assert sinfo(alice["env"]) == {"node001": "idle", "node002": "idle", "node003": "idle", "node004": "idle"}
    assert on_head(alice["env"], "hpc", "ssh node001 cat /run/slurmd.pid").strip() == before  # not restarted
    assert as_alice(alice["env"], "srun -N 1 -w node004 cat ~/shared.txt").strip() == "written-on-node001"
    as_alice(alice["env"], "echo from-node004 > ~/node004.txt", node="node004")
    run(alice["env"], "caas", "node", "remove", "hpc", "node004", timeout=300)
    assert sinfo(alice["env"]) == {"node001": "idle", "node002": "idle", "node003": "idle"}
    assert as_alice(alice["env"], "cat ~/node004.txt", node="node001").strip() == "from-node004"
    steps = events(cloud, alice)
    assert "drain" in steps and "slurm_config" in steps


def test_an_elastic_cluster_grows_with_the_queue_and_shrinks_when_idle(cloud, alice):
    run(alice["env"], "caas", "cluster", "create", "ela", "--image", "host", "--profile", "slurm", "-n", "0",
        "--min-nodes", "0", "--max-nodes", "8", "--idle-time", "30", timeout=300)
    v = show(alice["env"], "ela")
    assert v["status"] == "ACTIVE" and v["node_count"] == 0
    assert v["options"] == {"partitions": "one", "home_size": 10, "min_nodes": 0, "max_nodes": 8, "idle_time": 30}
    assert set(sinfo_of(alice["env"], "ela").values()) == {"idle~"}  # all 8 known to Slurm, powered down
    t0 = time.monotonic()
    out = as_user(alice["env"], "ela", "cd ~ && sbatch --parsable --wait -N 6 --wrap 'srun hostname'", timeout=300)
    print(f"sbatch -N 6 on an empty elastic cluster: done in {time.monotonic() - t0:.1f} s")
    job = out.strip().splitlines()[-1]
    ran = as_user(alice["env"], "ela", f"cat ~/slurm-{job}.out").split()
    assert sorted(ran) == [f"node00{i}" for i in range(1, 7)]
    steps = messages(cloud, alice, "ela")
    assert any("Slurm asked for node[001-006]" in m for m in steps), steps
    # a job running on a node keeps it; the idle ones go after 30 s
    as_user(alice["env"], "ela", "cd ~ && sbatch -N 1 -w node001 --wrap 'sleep 75'")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        nodes = computes(show(alice["env"], "ela"))
        if nodes == ["node001"]:
            break
        time.sleep(3)
    assert computes(show(alice["env"], "ela")) == ["node001"]
    deadline = time.monotonic() + 90  # powering down (idle%) for Slurm's SuspendTimeout, then down (idle~)
    while True:
        states = sinfo_of(alice["env"], "ela")
        if all(states[f"node00{i}"] == "idle~" for i in range(2, 9)) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert states["node001"] == "allocated" and all(states[f"node00{i}"] == "idle~" for i in range(2, 9)), states
    assert any("Slurm suspends" in m for m in messages(cloud, alice, "ela"))
    v = show(alice["env"], "ela")
    assert v["queue"] is None or v["queue"]["running"] in (0, 1)
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        samples = c.get("/caas/v1/clusters/ela/samples").json()["samples"]
    assert max(s["nodes"] for s in samples) == 6 and samples[-1]["nodes"] == 1
    run(alice["env"], "os_cluster", "delete", "ela", timeout=300)


def test_a_kill_during_a_scale_up_leaves_each_node_once(cloud, alice):
    """kill -9 of caas while it boots the nodes Slurm asked for: after the restart the add is
    rolled back (Slurm is told: the nodes down with the reason, then powered down), Slurm asks
    again, the job completes, and every node Slurm sees up has exactly one server, the others
    none."""
    run(alice["env"], "caas", "cluster", "create", "kill", "--image", "host", "--profile", "slurm", "-n", "0",
        "--max-nodes", "4", "--idle-time", "600", timeout=300)
    job = as_user(alice["env"], "kill", "cd ~ && sbatch --parsable -N 3 --wrap 'srun hostname'").strip().splitlines()[-1]
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        deadline = time.monotonic() + 60
        while c.get(f"{API}/clusters/kill").json()["cluster"]["step"] not in ("nodes", "bootstrap", "slurm_config"):
            assert time.monotonic() < deadline, "Slurm's resume never reached caas"
            time.sleep(0.05)
    crash(cloud)
    cloud.start(90)
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        deadline = time.monotonic() + 120
        while not any(e["step"] == "rollback" for e in c.get(f"{API}/clusters/kill/events").json()["events"]):
            assert time.monotonic() < deadline, "the restart did not roll the add back"
            time.sleep(0.5)
    # Slurm requeued the job when the nodes went down; a requeued job waits minutes before it is
    # eligible again (Slurm's own back-off, not caas's): make it eligible now
    on_head(alice["env"], "kill", f"scontrol update jobid={job} StartTime=now")
    deadline, state = time.monotonic() + 300, ""
    while time.monotonic() < deadline:
        state = as_user(alice["env"], "kill", f"squeue -h -j {job} -o %T 2>&1; true").strip()
        # squeue lists a job while it waits or runs (its errors, 2>&1, are no state)
        if state in ("", "COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL", "TIMEOUT") or "Invalid job id" in state:
            break
        time.sleep(3)
    assert state in ("COMPLETED", "") or "Invalid job id" in state, state
    assert sorted(as_user(alice["env"], "kill", f"cat ~/slurm-{job}.out").split()) == ["node001", "node002", "node003"]
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        v = c.get(f"{API}/clusters/kill").json()["cluster"]
        servers = [s["name"] for s in c.get("/compute/v2.1/servers").json()["servers"] if s["name"].startswith("kill-")]
        messages = [e["message"] for e in c.get(f"{API}/clusters/kill/events").json()["events"]]
    assert sorted(servers) == sorted(["kill-head"] + [f"kill-{n}" for n in computes(v)])  # each once
    states = sinfo_of(alice["env"], "kill")
    assert {n for n, st in states.items() if not st.endswith(("~", "%"))} == set(computes(v)), (states, computes(v))
    assert any("caas restarted during add" in m for m in messages), messages
    run(alice["env"], "os_cluster", "delete", "kill", timeout=300)


def test_delete_leaves_nothing(cloud, alice):
    run(alice["env"], "os_cluster", "delete", "hpc", timeout=300)
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        assert leftovers(c) == {}
        assert c.get(f"/share/v2/{alice['project_id']}/shares").json()["shares"] == []
