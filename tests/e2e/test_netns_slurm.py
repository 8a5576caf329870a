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
- ``os_cluster delete hpc`` leaves no server, port, share or kernel object.

SQLite only, as the other netns tests; the tests run in order and share one ``caas up``."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from tests.clusters.common import leftovers
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
    return user(cloud, "alice")


def as_alice(env: dict, script: str, node: str | None = None, timeout: float = 120) -> str:
    args = ["caas", "cluster", "ssh", "hpc"] + ([node] if node else []) + ["-l", "alice", "--", script]
    return run(env, *args, timeout=timeout).stdout


def events(cloud, who: dict) -> list[str]:
    with client_for(cloud, issue_token(cloud, who["name"], who["password"], who["name"])) as c:
        return [e["step"] for e in c.get("/caas/v1/clusters/hpc/events").json()["events"]]


def sinfo(env: dict) -> dict[str, str]:
    out = on_head(env, "hpc", "sinfo -h -N -o '%N %T'")
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


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


def test_delete_leaves_nothing(cloud, alice):
    run(alice["env"], "os_cluster", "delete", "hpc", timeout=300)
    with client_for(cloud, issue_token(cloud, "alice", alice["password"], "alice")) as c:
        assert leftovers(c) == {}
        assert c.get(f"/share/v2/{alice['project_id']}/shares").json()["shares"] == []
