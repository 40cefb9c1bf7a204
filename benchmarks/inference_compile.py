"""`reconstruct compile=true` vs eager, side by side on this CPU: compile time, ms per slice, equality.

    python benchmarks/inference_compile.py [--model promptmr_small] [--threads 1] [--repeats 3]

One random-weight network (`model=`, seeded) reconstructs one synthetic masked volume slice by slice as
`reconstruct` and the 2026 export do (`VolumeInference`); a deep copy is compiled
(`reconstruction.inference.compile_for_inference`). The compiled copy's first pass (compilation at this shape)
is timed on its own; then eager and compiled passes alternate `--repeats` times and the medians are compared.
Exits 1 if the compiled images differ from eager by more than 1e-5 of the image maximum. CPU only; a GPU's
ratio is unmeasured (docs/time.md).
"""

import argparse
import copy
import statistics
import sys
import time

import torch
from hydra import compose, initialize_config_dir
from torch import nn

from fastmri_pl import CONFIG_DIR
from fastmri_pl.reconstruction.inference import InferenceSettings, VolumeInference, compile_for_inference
from fastmri_pl.training import build

TOLERANCE = 1e-5


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="promptmr_small", help="a conf/model option")
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--coils", type=int, default=4)
    parser.add_argument("--height", type=int, default=96, help="k-space rows (readout)")
    parser.add_argument("--width", type=int, default=80, help="k-space columns (phase encode)")
    parser.add_argument("--crop", type=int, default=64, help="output size (square)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both runs)")
    return parser.parse_args()


def synthetic_volume(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked random k-space (S, C, H, W) and its equispaced 4x mask with a fully sampled centre."""
    generator = torch.Generator().manual_seed(0)
    shape = (args.slices, args.coils, args.height, args.width)
    kspace = torch.randn(shape, dtype=torch.complex64, generator=generator)
    mask = torch.zeros(args.width)
    mask[::4] = 1
    mask[args.width // 2 - 4 : args.width // 2 + 4] = 1
    return kspace * mask, mask


def one_pass(
    net: nn.Module, volume: tuple[torch.Tensor, torch.Tensor], crop: int
) -> tuple[torch.Tensor, float]:
    """Every slice of the volume, and the seconds per slice."""
    settings = InferenceSettings((crop, crop), torch.device("cpu"))
    inference = VolumeInference(net, *volume, settings)
    start = time.perf_counter()
    images = torch.stack([inference.slice(index) for index in range(inference.num_slices)])
    return images, (time.perf_counter() - start) / inference.num_slices


def main() -> int:
    args = arguments()
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("reconstruct", overrides=[f"model={args.model}", "hardware=cpu"])
    torch.manual_seed(0)
    eager = build.build_net(cfg).eval()
    compiled = compile_for_inference(copy.deepcopy(eager))
    volume = synthetic_volume(args)
    one_pass(eager, volume, args.crop)  # allocator and kernel warm-up, untimed
    start = time.perf_counter()
    one_pass(compiled, volume, args.crop)
    compile_seconds = time.perf_counter() - start
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    images: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, net in (("eager", eager), ("compiled", compiled)):
            images[name], seconds = one_pass(net, volume, args.crop)
            times[name].append(seconds)
    ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    difference = float((images["compiled"] - images["eager"]).abs().max() / images["eager"].abs().max())
    shape = f"{args.slices} x {args.coils} x {args.height} x {args.width}"
    print(f"model={args.model}, {shape} k-space, crop {args.crop}, {args.threads} thread(s), CPU")
    print(f"compile (first pass at this shape): {compile_seconds:.1f} s")
    medians = f"medians of {args.repeats}"
    print(f"eager {ms['eager']:.1f} ms/slice, compiled {ms['compiled']:.1f} ms/slice ({medians})")
    print(f"compiled / eager: {ms['compiled'] / ms['eager']:.3f}")
    print(f"max |compiled - eager| / max |eager|: {difference:.2e} (tolerance {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
