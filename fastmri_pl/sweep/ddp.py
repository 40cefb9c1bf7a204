"""DDP that is correct inside Hydra single runs and multiruns.

Lightning starts ranks 1.. by re-running the launch command (`sys.argv` plus `hydra.run.dir=...`). Inside a
multirun that command still holds `-m` and the sweep, so every child re-runs the whole sweep into a second
multirun folder. Here a child runs exactly its own job instead: the job's overrides, no `-m`, and
`hydra.run.dir` set to the job's own folder. After the job, failed or not, `finish_ddp_job` joins (or stops)
the children, closes the process group and restores the rendezvous variables, so the next job of a multirun
starts fresh ranks.
"""

import os
import subprocess
import sys

import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from lightning.pytorch import Trainer
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

RENDEZVOUS_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
CONFIG_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")
CHILD_WAIT_S = 300


def config_flags(argv: list[str]) -> list[str]:
    """The `--config-name/-cn`, `--config-path/-cp`, `--config-dir/-cd` flags of `argv`, with their values."""
    kept: list[str] = []
    for i, arg in enumerate(argv):
        name = arg.split("=", 1)[0]
        if name in CONFIG_FLAGS:
            kept += [arg] if "=" in arg else argv[i : i + 2]
    return kept


def job_command(local_rank: int) -> list[str]:
    """The command that runs rank `local_rank` of the current Hydra job, and only that job."""
    import __main__  # at call time: the entry point that is running now

    spec = getattr(__main__, "__spec__", None)
    entry = ["-m", spec.name] if spec is not None else [os.path.abspath(sys.argv[0])]
    hydra_cfg = HydraConfig.get()
    job_flags = [o for o in hydra_cfg.overrides.hydra if o.startswith("hydra.job.") and "job.name" not in o]
    return [
        sys.executable,
        *entry,
        *config_flags(sys.argv[1:]),
        *hydra_cfg.overrides.task,
        *job_flags,
        f'hydra.run.dir="{hydra_cfg.runtime.output_dir}"',
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
    ]


class HydraJobLauncher(_SubprocessScriptLauncher):
    """Lightning's subprocess launcher, but children re-run the current Hydra job rather than `sys.argv`."""

    def _call_children_scripts(self) -> None:
        if not HydraConfig.initialized():
            super()._call_children_scripts()
            return
        self._check_can_spawn_children()
        self.procs = []
        self.saved_environment = {name: os.environ.get(name) for name in RENDEZVOUS_VARIABLES}
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        for local_rank in range(1, self.num_processes):
            environment = {**os.environ, "LOCAL_RANK": str(local_rank)}
            command = job_command(local_rank)
            self.procs.append(subprocess.Popen(command, env=environment, cwd=get_original_cwd()))

    def finish(self, failed: bool = False) -> None:
        """Join this job's children and undo the rendezvous variables (no-op in a child).

        After a failed job the children are stopped rather than awaited: they would block in a collective
        until its timeout. The variables are restored whatever happens to the children.
        """
        exit_codes = []
        try:
            for proc in self.procs:
                if failed:
                    proc.kill()
                exit_codes.append(proc.wait(timeout=CHILD_WAIT_S))
        finally:
            for name, value in getattr(self, "saved_environment", {}).items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self.procs.clear()
        if not failed and any(exit_codes):
            raise RuntimeError(f"DDP child processes exited with codes {exit_codes}")


class HydraDDPStrategy(DDPStrategy):
    """`strategy=ddp` (subprocess launch) whose ranks stay inside the current Hydra job's folder."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):
            self._launcher = HydraJobLauncher(self.cluster_environment, self.num_processes, self.num_nodes)


def finish_ddp_job(trainer: Trainer, failed: bool = False) -> None:
    """End of a job, failed or not: join (or after a failure stop) the children this process launched, close
    the process group and restore the rendezvous variables.

    Without this the next job of a multirun in the same process would find `LOCAL_RANK` set, believe its
    ranks were started externally, and wait forever for ranks that already exited.
    """
    launcher = getattr(trainer.strategy, "launcher", None)
    try:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    finally:
        if isinstance(launcher, HydraJobLauncher):
            launcher.finish(failed)
