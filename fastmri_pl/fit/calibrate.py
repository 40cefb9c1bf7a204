"""A fit's calibration on the card across its attempts (`memory.calibration`, `callbacks.calibration`).

The card's free memory is read before this process starts CUDA (`runtime.nvml`); each attempt's callback
measures its first `hardware.calibration.steps` optimizer steps and calls `judge`, which records a fitting
calibration in `<run>/calibration.json`, logs it as `calibration/...` metrics and keeps the card's figures
in the user cache (`memory.card_cache`). When those steps need more than the card holds, or run out of
memory, `fallback` gives the config to start again with: nothing has been learned yet, so `train` rebuilds
everything and fits again from the same seed, which is the run a user starting with those levers gets.
"""

import logging
from dataclasses import asdict
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.callbacks.calibration import CalibrationFallback, CalibrationSteps
from fastmri_pl.errors import EXIT_OUT_OF_MEMORY, DataError, Stopped
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.calibration import (
    Calibration,
    Fallback,
    Measured,
    append_record,
    card_limit,
    expected_for,
    next_levers,
    today,
)
from fastmri_pl.memory.card_cache import PresentCard, present_card, remember_card
from fastmri_pl.memory.data_shapes import data_shapes
from fastmri_pl.memory.estimate import with_levers
from fastmri_pl.memory.oom import is_out_of_memory, levers_override
from fastmri_pl.memory.plan_cache import read_run_plan
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runtime.nvml import free_before_cuda
from fastmri_pl.training import build

log = logging.getLogger(__name__)
DEFAULT_STEPS = 3


def calibration_steps(cfg: DictConfig) -> int:
    """`hardware.calibration.steps` (absent: 3; 0: no calibration)."""
    steps = OmegaConf.select(cfg, "hardware.calibration.steps", default=DEFAULT_STEPS)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise DataError("hardware.calibration.steps", f"must be a whole number of steps >= 0, got {steps!r}")
    return steps


class RunCalibration:
    """One `train` run's calibration. Create it before anything touches CUDA: it reads the card's free memory
    then. `auto`: the run's levers were planned (`hardware.levers=auto`), so it falls back along the plan."""

    def __init__(self, cfg: DictConfig, auto: bool) -> None:
        self.run_dir = Path(cfg.paths.output_dir)
        self.auto = auto
        self.steps = calibration_steps(cfg)
        self.card: PresentCard | None = present_card(cfg.hardware)
        self.free_before = free_before_cuda(self.card.index) if self.card is not None else None
        self.callback: CalibrationSteps | None = None
        self.cfg = cfg

    def start(self, cfg: DictConfig) -> list[CalibrationSteps]:
        """The callback of the attempt about to fit `cfg`: none on the CPU or with 0 steps."""
        self.cfg = cfg
        self.callback = None
        if self.card is not None and self.steps > 0:
            adj_slices = int(cfg.model.get("num_adj_slices", 1))
            self.callback = CalibrationSteps(self.steps, self.judge, self.free_before, adj_slices)
        return [] if self.callback is None else [self.callback]

    @property
    def in_first_steps(self) -> bool:
        """Whether the attempt is still in its calibration steps (an out-of-memory error is theirs)."""
        return self.callback is not None and not self.callback.decided

    def judge(self, shape: BatchShape, measured: Measured, steps: int) -> Calibration:
        cfg = self.cfg
        assert self.card is not None
        levers = build.build_levers(cfg)
        calibration = Calibration(
            measured=measured,
            expected=expected_for(cfg, shape, levers, self.run_dir),
            shape=shape,
            levers=levers,
            steps=steps,
            limit=card_limit(cfg, measured.total),
            emulated=self.card.emulated,
            measured_on=today(),
        )
        self._keep(calibration)
        return calibration

    @rank_zero_only
    def _keep(self, calibration: Calibration) -> None:
        """The card's figures for later plans; a fitting calibration's record (a refused one is recorded
        with the levers it falls back to)."""
        warning = remember_card(calibration.card_measurement(self.cfg))
        if warning:
            log.warning(warning)
        if calibration.fits:
            log.info(calibration.verdict())
            append_record(self.run_dir, {**calibration.as_json(), "outcome": "fits"})

    def fallback(self, error: BaseException) -> DictConfig | None:
        """The config to start again with after `error` ended an attempt: a calibration that did not fit, or
        an out-of-memory error in the first steps; None for anything else. Says so in one line; raises
        `Stopped` (exit 3) when no setting saves more memory."""
        if isinstance(error, CalibrationFallback):
            calibration: Calibration | None = error.calibration
        elif is_out_of_memory(error) and self.in_first_steps:
            calibration = None
        else:
            return None
        current = build.build_levers(self.cfg)
        if calibration is not None:
            excess = (calibration.need - calibration.expected.need) / 2**30
            what = (
                f"calibration: the first {calibration.steps} optimizer steps need "
                f"{calibration.need / 2**30:.2f} GiB on {calibration.measured.card}, more than its "
                f"{calibration.limit / 2**30:.2f} GiB"
            )
        else:
            excess = None
            what = f"calibration: CUDA out of memory in the first {self.steps} optimizer steps"
        chosen = self.safer(excess)
        if chosen is None:
            raise Stopped(
                f"{what} with the strongest levers ({levers_override(current)}); nothing saves more memory: "
                "use a card with more memory or a smaller model",
                EXIT_OUT_OF_MEMORY,
            )
        self._record_fallback(calibration, current, chosen)
        log.warning(
            f"{what}; starting again from scratch (same seed, same data order) with "
            f"{levers_override(chosen.levers)} ({chosen.why})"
        )
        return with_levers(self.cfg, chosen.levers)

    def safer(self, excess_gib: float | None = None) -> Fallback | None:
        """The levers with more headroom than the attempt's (`memory.calibration.next_levers`): along the plan
        with `hardware.levers=auto`, else the next stronger setting; None when nothing saves more. excess_gib:
        how far the measured need passed the estimate's (None: unknown, after an out-of-memory error)."""
        current = build.build_levers(self.cfg)
        plan = read_run_plan(self.run_dir) if self.auto else None
        adj_slices = int(self.cfg.model.get("num_adj_slices", 1))
        return next_levers(current, plan, excess_gib, self._coils(current), adj_slices)

    def _coils(self, current: MemoryLevers) -> int:
        """Coils per slice for the stronger settings' coil chunk: the current chunk, else the largest batch
        measured, else the data's largest training sample."""
        if current.coil_chunk:
            return current.coil_chunk
        largest = self.callback.largest if self.callback is not None else None
        return largest.coils if largest is not None else data_shapes(self.cfg.data).largest_train.coils

    @rank_zero_only
    def _record_fallback(
        self, calibration: Calibration | None, current: MemoryLevers, chosen: Fallback
    ) -> None:
        entry = (
            {**calibration.as_json(), "outcome": "passes the card"}
            if calibration is not None
            else {"measured_on": today(), "levers": asdict(current), "outcome": "out of memory"}
        )
        entry["fallback"] = {"levers": asdict(chosen.levers), "why": chosen.why}
        append_record(self.run_dir, entry)
