"""`python -m benchmarks.reconstruct_row --output FILE -- <reconstruct overrides>`: one `reconstruct` run with
what the card held, for the GPU check (`benchmarks/gpu_check.py`).

Composes `conf/reconstruct.yaml` with the overrides as `python -m fastmri_pl.reconstruct` does, caps the card
as the profile's (`callbacks.memory.emulate_card`, as `train` does), runs `reconstruct.reconstruct` and writes
one JSON row: the mean forward ms per slice (the 2026 clock: warm-up slices untimed), and on CUDA the
allocator's reserved peak and the memory outside it (context, kernels, library handles), whose sum is what the
card held.
Out of memory is the row's answer (`fits: false`), not a crash. Exit 0 when the row was written.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from rich.console import Console

from fastmri_pl import CONFIG_DIR
from fastmri_pl.bench import DOES_NOT_FIT, outside_allocator
from fastmri_pl.callbacks.memory import emulate_card
from fastmri_pl.memory.oom import is_out_of_memory
from fastmri_pl.memory.report import GIB
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.reconstruction.inference import inference_device
from fastmri_pl.runs.atomic import write_atomically


def measure(overrides: list[str]) -> dict[str, Any]:
    """The row of one `reconstruct` run with `overrides`."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("reconstruct", overrides=overrides)
    device = inference_device(cfg)
    row: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    emulated = emulate_card(cfg.hardware, device)
    if emulated is not None:
        print(emulated.line, flush=True)
        row.update(device_gib=_gib(emulated.total), cap_gib=_gib(emulated.cap))
    row["card"] = "cpu" if device.type != "cuda" else "emulated" if emulated and emulated.cap else "card"
    try:
        run = reconstruct(cfg, Console(stderr=False))
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        return {**row, "fits": False, "note": f"{DOES_NOT_FIT} while reconstructing"}
    row.update(fits=True, note="", slices=run.timings.slices)
    row["ms_per_slice"] = round(run.timings.ms_per_slice(), 2)
    if device.type == "cuda":
        reserved, outside = torch.cuda.max_memory_reserved(device), outside_allocator(device)
        row.update(max_reserved_gib=_gib(reserved), outside_gib=_gib(outside))
        row["infer_card_gib"] = _gib(reserved + outside)
    return row


def _gib(nbytes: int | None) -> float | None:
    return None if nbytes is None else round(nbytes / GIB, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="the JSON row (not an existing file)")
    parser.add_argument("overrides", nargs="*", help="reconstruct's Hydra overrides, after --")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"error: {args.output} exists; remove it or pass another file", file=sys.stderr)
        return 2
    row = measure(args.overrides)
    write_atomically(args.output, (json.dumps(row, indent=1) + "\n").encode())
    print(f"wrote {args.output}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
