"""`runtime.precision`: one meaning of `hardware.precision` for reconstruct, bench, the memory trace and the
roofline; an unknown string is one `DataError` naming the key, wherever it is met first."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.errors import DataError
from fastmri_pl.memory.roofline import DeviceSpeed
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.runtime.precision import (
    autocast,
    compute_dtype,
    cpu_precision,
    peak_key,
    traced_autocast,
    uses_grad_scaler,
)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("precision", "dtype", "key"),
    [
        ("32-true", torch.float32, "fp32"),
        ("bf16-mixed", torch.bfloat16, "bf16"),
        ("16-mixed", torch.float16, "fp16"),
    ],
)
def test_each_precision_has_one_dtype_and_peak(precision: str, dtype: torch.dtype, key: str) -> None:
    assert compute_dtype(precision) == dtype
    assert peak_key(precision) == key


@pytest.mark.parametrize(
    "use",
    [
        compute_dtype,
        peak_key,
        cpu_precision,
        traced_autocast,
        lambda p: autocast(p, CPU),
        lambda p: uses_grad_scaler(p, CUDA),
        lambda p: DeviceSpeed({"fp32": 1.0, "bf16": 2.0}, 100.0, 10.0, 5.0, (0.2, 0.5)).peak_flops("half", p),
    ],
)
def test_unknown_precision_is_one_error_naming_the_key(use) -> None:
    with pytest.raises(
        DataError, match=r"^hardware.precision: must be one of 32-true, bf16-mixed, 16-mixed, "
    ):
        use("16-true")


def test_autocast_casts_on_cuda_only_and_the_trace_stands_in_with_bf16_without_cache() -> None:
    """Inference on CPU runs fp32 whatever the profile says; a trace (or a CPU bench step) casts as CUDA
    would, in bf16, and keeps no cast weights (Lightning's setting)."""
    weight, image = torch.randn(4, 4), torch.randn(2, 4)
    with autocast("bf16-mixed", CPU):
        assert (image @ weight).dtype == torch.float32
    for precision in ("16-mixed", "bf16-mixed"):
        with traced_autocast(precision):
            assert (image @ weight).dtype == torch.bfloat16
            assert not torch.is_autocast_cache_enabled()
    with traced_autocast("32-true"):
        assert (image @ weight).dtype == torch.float32


def test_grad_scaler_and_cpu_stand_in_follow_fp16() -> None:
    assert uses_grad_scaler("16-mixed", CUDA)
    assert not any(
        [
            uses_grad_scaler("16-mixed", CPU),
            uses_grad_scaler("bf16-mixed", CUDA),
            uses_grad_scaler("32-true", CUDA),
        ]
    )
    assert [cpu_precision(p) for p in ("16-mixed", "bf16-mixed", "32-true")] == ["bf16-mixed"] * 2 + [
        "32-true"
    ]


def test_reconstruct_refuses_an_unknown_precision_and_writes_nothing(
    data_snu_root: Path, tmp_path: Path
) -> None:
    """Before, `16-true` ran silently in fp32; now the run stops at the first slice, no file written."""
    overrides = [f"data.root={data_snu_root}", f"output_dir={tmp_path / 'out'}", "progress=false"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("reconstruct", overrides=[*overrides, "hardware.precision=16-true"])
    with pytest.raises(DataError, match="^hardware.precision: "):
        reconstruct(cfg)
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []
