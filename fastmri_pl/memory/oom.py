"""The one message a CUDA out-of-memory error ends training with: peak, budget, and what to try instead."""

import gc
from dataclasses import asdict

import torch
from omegaconf import DictConfig

from fastmri_pl.memory.planner import RELATIVE_RECOMPUTE, candidate_levers
from fastmri_pl.memory.report import format_bytes
from fastmri_pl.models.levers import MemoryLevers

# what cuDNN and cuFFT raise (as a plain RuntimeError) when their workspace cannot be allocated
LIBRARY_ALLOCATION_FAILURES = (
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUFFT_ALLOC_FAILED",
    "CUBLAS_STATUS_ALLOC_FAILED",
)
# profiles from the smallest card up; a profile with more memory is the last thing to suggest
PROFILES_BY_MEMORY = (("gtx1080", 8), ("rtx4070", 12), ("a100", 40))


def free_card_memory() -> None:
    """Collect what a failed or finished attempt left and hand the allocator's cached blocks back to the card,
    before the next attempt, slice or checkpoint write allocates again."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """True for the caching allocator's `torch.cuda.OutOfMemoryError` and for a CUDA library's failed
    workspace allocation, which the card's memory ran out for just the same."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(code in str(error) for code in LIBRARY_ALLOCATION_FAILURES)


def stronger_levers(current: MemoryLevers, coils: int) -> list[MemoryLevers]:
    """Planner candidates that save more memory than `current` (more checkpointing, chunks, offload)."""

    def strength(levers: MemoryLevers) -> tuple[float, bool, bool, bool]:
        return (
            RELATIVE_RECOMPUTE[levers.checkpoint],
            levers.offload,
            levers.sens_chunk != 0,
            levers.coil_chunk != 0,
        )

    return [
        c
        for c in candidate_levers(coils)
        if all(a >= b for a, b in zip(strength(c), strength(current), strict=True)) and c != current
    ]


def levers_override(levers: MemoryLevers) -> str:
    """`levers` as one command-line override naming every field, so that nothing of the profile's mapping
    (a `checkpoint_cascades`, say) merges into it, and `auto` is replaced too; quote it for a shell."""
    fields = ",".join(f"{key}:{_yaml_value(value)}" for key, value in asdict(levers).items())
    return f"hardware.levers={{{fields}}}"


def _yaml_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def oom_message(cfg: DictConfig, peak_bytes: int, coils: int = 16) -> str:
    """What to print instead of the traceback of `torch.cuda.OutOfMemoryError` during training.

    peak_bytes: `torch.cuda.max_memory_allocated()` when the error was raised; coils: coils per slice of the
    data (for the coil chunk to suggest). Names the peak, the profile's budget and the levers to try.
    """
    budget = cfg.hardware.get("memory_gb")
    levers = cfg.hardware.levers
    lines = [
        f"CUDA out of memory: peak {format_bytes(peak_bytes)} allocated, budget "
        + (
            f"{budget} GiB (hardware.memory_gb)"
            if budget is not None
            else "the whole GPU (hardware.memory_gb null)"
        )
        + f", precision {cfg.hardware.precision}, levers {levers}.",
    ]
    if isinstance(levers, str):
        lines.append("The planner's levers did not fit: lower hardware.memory_gb to keep a larger margin, or")
        current = None
    else:
        current = MemoryLevers(**levers)
    options = stronger_levers(current, coils) if current is not None else []
    if options:
        best = options[-1]
        lines.append(
            "try stronger levers: "
            f"hardware.levers.checkpoint={best.checkpoint} hardware.levers.sens_chunk={best.sens_chunk} "
            f"hardware.levers.coil_chunk={best.coil_chunk} "
            f"hardware.levers.offload={str(best.offload).lower()}"
        )
        lines.append("or let the planner choose: hardware.levers=auto")
    if cfg.hardware.precision == "32-true":
        lines.append("try mixed precision: hardware.precision=16-mixed (bf16-mixed on Ampere and newer)")
    lines.append(
        "see the estimate first: python -m fastmri_pl.memory "
        f"model=<model> hardware=<profile> memory.plan=true (budget {budget} GiB)"
    )
    bigger = [name for name, gb in PROFILES_BY_MEMORY if budget is not None and gb > float(budget)]
    if bigger:
        lines.append(f"or a profile for a card with more memory: hardware={bigger[0]}")
    return "\n".join(lines)
