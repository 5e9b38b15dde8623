"""A real one-node Slurm on this machine, for the cluster test.

Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them): munged for
authentication, slurmctld and slurmd with a configuration written to a
temporary folder, accounting off. With accounting off ``sacct`` cannot answer,
so finished jobs are kept in ``squeue`` for a day (``MinJobAge``) and the
executor plugin is told to ask ``squeue``. The node offers one fake GPU
(a count-only ``gres``), so the profile's GPU requests are scheduled for real;
torch sees no CUDA in the job and runs on the CPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
# Where Slurm's commands look without SLURM_CONF. The executor plugin's job step
# clears every SLURM_* variable before its inner srun, so the test cluster's
# config must be found there; a machine with its own config is left alone.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


@dataclass
class SlurmCluster:
    conf: Path
    env: dict[str, str]
    node: str

    def run(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)


def why_not_available() -> str | None:
    """None when a one-node Slurm can be started here, else the reason."""
    if os.geteuid() != 0:
        return "starting slurmctld / slurmd / munged needs root"
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing or shutil.which("sbatch") is None:
        absent = ", ".join(missing) or "sbatch"
        return f"Slurm or munge is not installed (missing: {absent}; apt-get install slurm-wlm munge)"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"this machine has a Slurm configuration of its own ({SYSTEM_CONF}); the test does not touch it"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return max(1000, int(total_kb / 1024 * 0.9))


def start(root: Path) -> SlurmCluster:
    """Start munged (if not running), slurmctld and slurmd; wait for an idle node."""
    node = socket.gethostname()
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    cpus = os.cpu_count() or 2
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=aemap-test",
                f"SlurmctldHost={node}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                f"StateSaveLocation={root}/state",
                f"SlurmdSpoolDir={root}/spool",
                f"SlurmctldPidFile={root}/slurmctld.pid",
                f"SlurmdPidFile={root}/slurmd.pid",
                f"SlurmctldLogFile={root}/log/slurmctld.log",
                f"SlurmdLogFile={root}/log/slurmd.log",
                "SlurmctldPort=6817",
                "SlurmdPort=6818",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "MinJobAge=86400",
                "GresTypes=gpu",
                f"NodeName={node} CPUs={cpus} RealMemory={_memory_mb()} Gres=gpu:1 State=UNKNOWN",
                f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    # A stand-in device file: Slurm counts a GPU per file; the jobs see no CUDA.
    (root / "gres.conf").write_text(f"AutoDetect=off\nNodeName={node} Name=gpu File=/dev/null\n")
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    for name in ("slurm.conf", "gres.conf"):
        link = SYSTEM_CONF.parent / name
        if link.is_symlink():
            link.unlink()  # left by an earlier test run
        link.symlink_to(root / name)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0:
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        subprocess.run([_binary("munged"), "--force"], check=True, capture_output=True)
    for daemon in ("slurmctld", "slurmd"):
        subprocess.run([_binary(daemon), "-f", str(conf)], env=env, check=True, capture_output=True)
    cluster = SlurmCluster(conf=conf, env=env, node=node)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "-h", "-N", "-o", "%t").stdout.strip()
        if state.startswith("idle"):
            return cluster
        time.sleep(0.5)
    stop(cluster)
    logs = "\n".join(
        (root / "log" / name).read_text()[-2000:]
        for name in ("slurmctld.log", "slurmd.log")
        if (root / "log" / name).exists()
    )
    raise RuntimeError(f"the one-node Slurm did not come up (node state {state!r}):\n{logs}")


def stop(cluster: SlurmCluster) -> None:
    cluster.run("scontrol", "shutdown")
    for name in ("slurm.conf", "gres.conf"):
        link = SYSTEM_CONF.parent / name
        if link.is_symlink():
            link.unlink()
    for pid_file in ("slurmctld.pid", "slurmd.pid"):
        path = cluster.conf.parent / pid_file
        if path.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(path.read_text().strip()), 15)
