"""An Optuna sweeper whose study survives a failed trial: the trial is told FAIL and the search goes on.

hydra-optuna-sweeper 1.2 tells a failed job's trial FAIL and then re-raises, ending the whole study at the
first out-of-memory or bad-override trial. Here the launcher's results pass through `drop_failed` first:
each failed job's trial is told FAIL on the spot and removed, with its result, from the batch the sweeper
then scores. This leans on two internals of that sweeper version (pinned in pyproject): `_configure_trials`
receives the batch's trial list, and the loop zips that same list with the launcher's results.
"""

import logging
from collections.abc import Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class _TolerantLauncher:
    """The sweeper's launcher, with failed jobs' trials told FAIL and left out of what it returns."""

    def __init__(self, launcher: Any, sweeper: "TolerantOptunaSweeperImpl") -> None:
        self.launcher = launcher
        self.sweeper = sweeper

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        returns = self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)
        return self.sweeper.drop_failed(returns)


class TolerantOptunaSweeperImpl(OptunaSweeperImpl):
    """`OptunaSweeperImpl` that records a failed trial as FAIL and keeps sweeping."""

    batch: list[optuna.trial.Trial]

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.launcher = _TolerantLauncher(self.launcher, self)

    def _configure_trials(self, trials: list[optuna.trial.Trial], *args: Any) -> Sequence[Sequence[str]]:
        self.batch = trials  # the list the sweeper zips with the launcher's results
        return super()._configure_trials(trials, *args)

    def drop_failed(self, returns: Sequence[JobReturn]) -> list[JobReturn]:
        kept = []
        for trial, job_return in zip(list(self.batch), returns, strict=True):
            if job_return.status != JobStatus.FAILED:
                kept.append(job_return)
                continue
            try:
                _ = job_return.return_value  # re-raises the job's error
            except Exception as error:
                log.warning(
                    f"trial {trial.number} failed ({type(error).__name__}: {error}): told FAIL, study goes on"
                )
            trial.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.batch.remove(trial)
            self.job_idx += 1  # the sweeper counts only the results it receives
        return kept


class TolerantOptunaSweeper(OptunaSweeper):
    """`hydra.sweeper._target_` for searches that must outlive a failed trial (`hparams_search=*`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sweeper = TolerantOptunaSweeperImpl(**kwargs)
