"""`python3 fastmri_pl/runtime/torch_install.py [--compute-cap X.Y] [--dry-run]`: torch for `make install`.

PyTorch's default CUDA builds (12.8 and later) carry kernels from compute capability 7.5 on; the CUDA 12.6
builds are the last with Maxwell, Pascal and Volta kernels (sm_50, sm_60, sm_70), and torch 2.15 dropped
CUDA 12.6. So a card below 7.5 (the challenge's GTX 1080 is 6.1) gets the newest torch below 2.15 from the
CUDA 12.6 index, a newer card the default CUDA build, a machine without `nvidia-smi` the CPU build.
`make install` runs this file before torch or any other dependency exists, as a script (not `-m`, which would
import the package and its dependencies first), so it imports only the standard library.
"""

import argparse
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

# The release the test suite runs on, and the first not checked against the private torch APIs we use
# (fake tensors and dispatch modes in `memory/`); keep them equal to pyproject.toml's torch bounds.
TORCH_FLOOR = "2.13"
TORCH_CEILING = "2.16"
# torch 2.15 dropped the CUDA 12.6 builds and with them every kernel below compute capability 7.5
CU126_CEILING = "2.15"
CU126_INDEX = "https://download.pytorch.org/whl/cu126"
DEFAULT_BUILD_MIN_CAPABILITY = (7, 5)
CU126_MIN_CAPABILITY = (5, 0)
CPU_SPEC = "torch==2.13.0"
QUERY = ["--query-gpu=compute_cap", "--format=csv,noheader"]

Capability = tuple[int, int]


class TorchInstallError(RuntimeError):
    """No torch build can be chosen: the message says why and what to set instead."""


@dataclass(frozen=True)
class TorchChoice:
    """A pip requirement, the index it comes from (None: pip's default) and why it was chosen."""

    spec: str
    index_url: str | None
    why: str

    def pip_args(self) -> list[str]:
        return ["install", self.spec] + (["--index-url", self.index_url] if self.index_url else [])

    def command(self, python: str = "python", extra: tuple[str, ...] = ()) -> str:
        """The shell command that installs this build with `python`'s pip."""
        return shlex.join([python, "-m", "pip", *self.pip_args(), *extra])


def parse_capability(text: str) -> Capability:
    """'6.1' -> (6, 1); anything else is an error naming the text."""
    major, dot, minor = text.strip().partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise TorchInstallError(
            f"compute capability {text.strip()!r} is not of the form MAJOR.MINOR (e.g. 6.1)"
        )
    return int(major), int(minor)


def choose(capability: Capability | None) -> TorchChoice:
    """The build for the lowest compute capability on the machine, or the CPU build when there is no GPU."""
    if capability is None:
        return TorchChoice(CPU_SPEC, None, "no NVIDIA GPU: the CPU build the test suite runs on")
    cap = f"{capability[0]}.{capability[1]}"
    if capability < CU126_MIN_CAPABILITY:
        raise TorchInstallError(
            f"compute capability {cap}: no torch>={TORCH_FLOOR} build has kernels for it; "
            f"install the CPU build (TORCH_SPEC={CPU_SPEC}) and train with hardware=cpu"
        )
    if capability < DEFAULT_BUILD_MIN_CAPABILITY:
        return TorchChoice(
            f"torch>={TORCH_FLOOR},<{CU126_CEILING}",
            CU126_INDEX,
            f"compute capability {cap} is below 7.5: the newest CUDA 12.6 build (its sm_50, sm_60 and sm_70 "
            "kernels run on every desktop card of the same major version)",
        )
    return TorchChoice(
        f"torch>={TORCH_FLOOR},<{TORCH_CEILING}",
        None,
        f"compute capability {cap}: the default CUDA build (kernels from sm_75 on)",
    )


def with_overrides(choice: TorchChoice, spec: str | None, index_url: str | None) -> TorchChoice:
    """`TORCH_SPEC` / `TORCH_INDEX` from the Makefile replace the chosen requirement / index."""
    if not spec and not index_url:
        return choice
    return TorchChoice(spec or choice.spec, index_url or choice.index_url, "set by TORCH_SPEC / TORCH_INDEX")


def query_capability() -> Capability | None:
    """The lowest compute capability `nvidia-smi` reports (one build serves every card); None without it."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return None
    result = subprocess.run([nvidia_smi, *QUERY], capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no GPU listed"]
        raise TorchInstallError(
            f"nvidia-smi {' '.join(QUERY)} failed ({reason[0]}); drivers older than 510 cannot report it: "
            "update the driver, or choose with TORCH_SPEC=... TORCH_INDEX=..."
        )
    return min(parse_capability(line) for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastmri_pl/runtime/torch_install.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--compute-cap", help="X.Y, or 'none' for no GPU (default: ask nvidia-smi)")
    parser.add_argument("--spec", help="pip requirement to install instead (TORCH_SPEC)")
    parser.add_argument("--index-url", help="package index to install from instead (TORCH_INDEX)")
    parser.add_argument("--dry-run", action="store_true", help="print the pip command, install nothing")
    args = parser.parse_args(argv)
    try:
        if args.compute_cap is None:
            capability = query_capability()
        else:
            capability = None if args.compute_cap == "none" else parse_capability(args.compute_cap)
        choice = with_overrides(choose(capability), args.spec, args.index_url)
    except TorchInstallError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"torch: {choice.why}")
    print(choice.command(sys.executable))
    if args.dry_run:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", *choice.pip_args(), "-q"])


if __name__ == "__main__":
    raise SystemExit(main())
