"""Start-up check: a CUDA card the installed torch cannot serve stops every CUDA entry point with one line."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fastmri_pl import bench, reconstruct, train
from fastmri_pl.runtime.gpu_check import arch_serves, build_supports, check_cuda_build

# What `torch.cuda.get_arch_list()` returns for the CUDA 12.6 and 12.8 x86_64 builds
CU126 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
CU128 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]


@pytest.mark.parametrize(
    ("capability", "arch_list", "served"),
    [
        ((6, 1), CU126, True),  # GTX 1080: sm_60 cubins run on 6.1
        ((6, 1), CU128, False),
        ((7, 0), CU126, True),
        ((8, 9), CU126, True),  # RTX 4070: sm_86 cubins
        ((8, 9), CU128, True),
        ((12, 0), CU126, False),  # no 12.x cubin, no PTX
        ((12, 0), [*CU126, "compute_90"], True),  # PTX compiles forward
        ((8, 0), ["compute_90"], False),  # but never backward
        ((9, 0), ["sm_90a"], True),
        ((10, 0), ["sm_90a"], False),
        ((10, 3), ["sm_100f"], True),
        ((6, 2), CU126, False),  # Tegra runs only its own cubins
        ((5, 2), ["sm_61"], False),
    ],
)
def test_compatibility_rule(capability: tuple[int, int], arch_list: list[str], served: bool) -> None:
    assert build_supports(capability, arch_list) is served


def test_sm61_itself_serves_only_6x_from_61() -> None:
    assert arch_serves("sm_61", (6, 1)) and arch_serves("sm_61", (6, 3)) and not arch_serves("sm_61", (6, 0))


@pytest.fixture
def gtx1080_under(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], None]:
    """`gtx1080_under(arch_list)`: torch sees one GTX 1080 and was built for `arch_list`."""

    def install(arch_list: list[str]) -> None:
        monkeypatch.setattr(torch.version, "cuda", "12.8")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: arch_list)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (6, 1))
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA GeForce GTX 1080")

    return install


def test_unsupported_card_stops_with_one_line_and_the_fix(gtx1080_under: Callable) -> None:
    gtx1080_under(CU128)
    with pytest.raises(SystemExit) as stopped:
        check_cuda_build("gpu")
    message = str(stopped.value.code)
    assert "\n" not in message
    assert message.startswith("error: NVIDIA GeForce GTX 1080 (sm_61) has no kernels in torch ")
    assert torch.__version__ in message and "sm_75 sm_80" in message
    assert "pip install 'torch>=2.13,<2.15' --index-url https://download.pytorch.org/whl/cu126" in message
    assert message.endswith("--force-reinstall")


def test_supported_card_or_cpu_run_passes(gtx1080_under: Callable) -> None:
    gtx1080_under(CU126)
    check_cuda_build("gpu")
    gtx1080_under(CU128)
    check_cuda_build("cpu")  # a CPU run never touches the card


def test_entry_points_stop_before_any_work(
    gtx1080_under: Callable, run_main: Callable, tmp_path: Path
) -> None:
    """The one door checks the build for every command that may use CUDA, before the command's own work."""
    gtx1080_under(CU128)
    output = tmp_path / "out"
    runs = {
        train: ["hardware=gtx1080", "data.root=/nonexistent", f"hydra.run.dir={tmp_path / 'train'}"],
        reconstruct: [
            "hardware=gtx1080",
            "data.root=/nonexistent",
            f"output_dir={output}",
            f"hydra.run.dir={tmp_path / 'reconstruct'}",
        ],
        bench: ["bench.output=" + str(output / "bench.json")],
    }
    for module, arguments in runs.items():
        code, stderr = run_main(module, *arguments)
        assert code == 1 and stderr.count("\n") == 1, module.__name__
        assert stderr.startswith("error: NVIDIA GeForce GTX 1080 (sm_61) has no kernels"), module.__name__
        assert not output.exists(), module.__name__
    assert not (tmp_path / "train" / "checkpoints").exists()
