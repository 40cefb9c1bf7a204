"""What one traced run found: peaks overall and per phase, what dominates them, and a printable summary."""

from dataclasses import dataclass, field

from fastmri_pl.memory.opcost import OpCosts
from fastmri_pl.memory.tracker import PeakSnapshot

MIB = 2**20
GIB = 2**30


def format_bytes(nbytes: int) -> str:
    """Bytes as GiB above 1 GiB, else MiB: the units the hardware profiles are written in."""
    if nbytes >= GIB:
        return f"{nbytes / GIB:.2f} GiB"
    return f"{nbytes / MIB:.1f} MiB"


@dataclass(frozen=True)
class MemoryReport:
    """Tracked GPU-equivalent memory of a traced training step or inference pass.

    kind: "training" or "inference"; fake: traced under FakeTensorMode (else real CPU tensors).
    peak: the overall peak with its largest storages; phases: the peak of each phase ("setup", "forward").
    resident: what stays live after the run (parameters, gradients, optimizer state, batch), by source.
    inputs: shape of every tensor of the batch; seconds: wall time of the trace on this machine.
    host_peak_bytes: pinned host memory that host offload (`save_on_cpu`) kept, not in `peak` (power-of-two
    blocks cached per size, `memory.allocator.PinnedHostCache`).
    reserved_peak_bytes: the peak the CUDA caching allocator would reserve for the same allocations
    (`memory.allocator.DeviceCacheReplay`): `peak` plus fragmentation.
    costs: FLOPs and bytes of the ops of one traced step or pass (`memory.opcost`), setup not included.
    """

    kind: str
    precision: str
    fake: bool
    peak: PeakSnapshot
    phases: dict[str, PeakSnapshot]
    parameters: int
    parameter_bytes: int
    resident: PeakSnapshot
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seconds: float = 0.0
    host_peak_bytes: int = 0
    reserved_peak_bytes: int = 0
    costs: OpCosts = field(default_factory=OpCosts, compare=False, repr=False)

    @property
    def peak_bytes(self) -> int:
        return self.peak.nbytes

    @property
    def resident_bytes(self) -> int:
        return self.resident.nbytes

    def summary(self, rows: int = 8) -> str:
        """A few lines for a terminal: peak, per-phase peaks, the largest sources and tensors at the peak."""
        mode = "fake tensors" if self.fake else "real CPU tensors"
        lines = [
            f"{self.kind} peak {format_bytes(self.peak_bytes)} ({self.precision}, {mode}, traced in "
            f"{self.seconds:.1f} s); {self.parameters:,} parameters = {format_bytes(self.parameter_bytes)}; "
            f"resident after the run {format_bytes(self.resident_bytes)}; "
            f"host (offload) peak {format_bytes(self.host_peak_bytes)}; "
            f"reserved by the caching allocator {format_bytes(self.reserved_peak_bytes)}",
            "peak per phase: "
            + ", ".join(f"{name} {format_bytes(snap.nbytes)}" for name, snap in self.phases.items()),
            "at the peak, by source:",
        ]
        lines += [f"  {format_bytes(nbytes):>12}  {source}" for source, nbytes in self.peak.by_source[:rows]]
        lines.append("at the peak, largest tensors:")
        lines += [
            f"  {format_bytes(r.nbytes):>12}  {r.dtype:<10} {str(list(r.shape)):<24} {r.op} in {r.source}"
            for r in self.peak.largest[:rows]
        ]
        return "\n".join(lines)
