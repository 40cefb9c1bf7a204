"""The GPU check's verdicts and its report (`benchmarks/gpu_check.py`): pure functions of the measurements.

A memory row passes when it ran to the end and what the card held (the allocator's reserved peak plus the
memory outside it) is at most 10 % above the estimate's need on the card; a row that ran out of memory
fails, and so does one that was not measured (its step failed). A profile whose card is larger than the card
the check runs on cannot be emulated there: its row is skipped, not failed. The determinism row passes when
both runs' weights hash alike. Times are reported beside their roofline projection and never fail the check:
a big card's time says little of a GTX 1080's.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

# a measured need may pass its estimate by this much before the check fails
TOLERANCE = 0.10
# a card reporting this share of a profile's card_gib still counts as that card (drivers differ by some MiB)
SAME_CARD = 0.99


@dataclass(frozen=True)
class Verdict:
    """status: ok | over estimate | does not fit | not measured | skipped | identical | differ | failed."""

    status: str
    failed: bool
    detail: str


@dataclass(frozen=True)
class ReportRow:
    """One checked row: what was measured and estimated (GiB), its verdict, and figures shown beside it."""

    name: str
    measured_gib: float | None
    estimated_gib: float | None
    verdict: Verdict
    shown: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.measured_gib is None or not self.estimated_gib:
            return None
        return round(self.measured_gib / self.estimated_gib, 3)


def memory_verdict(
    fits: bool | None,
    measured_gib: float | None,
    estimated_gib: float,
    note: str = "",
    device_gib: float | None = None,
    profile_gib: float | None = None,
) -> Verdict:
    """The verdict on what the card held for a row against the estimate's need on the card.

    device_gib: the card the check ran on; profile_gib: the profile's card (min(card_gib, memory_gb)). A card
    smaller than the profile's cannot stand in for it: skipped."""
    if device_gib is not None and profile_gib is not None and device_gib < SAME_CARD * profile_gib:
        detail = f"this card's {device_gib:.2f} GiB are less than the profile's {profile_gib:.2f}"
        return Verdict("skipped", False, detail)
    if fits is False:
        return Verdict("does not fit", True, note or "out of memory")
    if fits is None or measured_gib is None:
        return Verdict("not measured", True, note or "no measurement came back")
    ratio = measured_gib / estimated_gib
    detail = f"measured {measured_gib:.2f} GiB = {ratio:.2f} x the estimate's {estimated_gib:.2f} GiB"
    if ratio > 1 + TOLERANCE:
        return Verdict("over estimate", True, f"{detail} (more than {TOLERANCE:.0%} over)")
    return Verdict("ok", False, detail)


def determinism_verdict(first: str | None, second: str | None) -> Verdict:
    """Two runs of the same seeded recipe: their weights' hashes must be equal (None: that run failed)."""
    if first is None or second is None:
        missing = " and ".join(name for name, h in (("run 1", first), ("run 2", second)) if h is None)
        return Verdict("failed", True, f"no weights from {missing}")
    if first == second:
        return Verdict("identical", False, f"weights' sha256 {first[:16]}... in both runs")
    return Verdict("differ", True, f"weights' sha256 {first[:16]}... vs {second[:16]}...")


def step_failed(name: str, returncode: int | None, log: str) -> Verdict:
    """A row whose step did not finish: exit status or timeout (None), and where its output is."""
    ending = "timed out" if returncode is None else f"exited {returncode}"
    return Verdict("failed", True, f"{name} {ending}; see {log}")


def passed(rows: list[ReportRow]) -> bool:
    return not any(row.verdict.failed for row in rows)


def report_document(rows: list[ReportRow], steps: list[dict[str, Any]], context: dict[str, Any]) -> dict:
    """report.json: the context (device, torch, times), every step's command and exit, every row."""
    return {
        **context,
        "passed": passed(rows),
        "tolerance": TOLERANCE,
        "rows": [
            {
                "name": row.name,
                "measured_gib": row.measured_gib,
                "estimated_gib": row.estimated_gib,
                "ratio": row.ratio,
                **asdict(row.verdict),
                **row.shown,
            }
            for row in rows
        ],
        "steps": steps,
    }


def report_markdown(document: dict[str, Any]) -> str:
    """report.md: the verdict, the rows as a table, what else they showed, and the steps run."""
    verdict = "PASSED" if document["passed"] else "FAILED"
    lines = [
        f"# GPU check: {verdict}",
        "",
        f"{document.get('device', '?')}, torch {document.get('torch', '?')}, {document.get('started', '')}, "
        f"{document.get('seconds', 0):.0f} s. Measured need on the card = the allocator's reserved peak + "
        "the memory outside it; estimated = the estimator's reserved + workspace + context. What to do with "
        "it: docs/gpu-check.md.",
        "",
        "| row | measured GiB | estimated GiB | ratio | verdict | detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in document["rows"]:
        cells = [row["name"], row["measured_gib"], row["estimated_gib"], row["ratio"], row["status"]]
        lines.append("| " + " | ".join("—" if c is None else str(c) for c in cells) + f" | {row['detail']} |")
    shown = [row for row in document["rows"] if set(row) - ROW_KEYS]
    if shown:
        lines += ["", "Beside the rows:", ""]
        for row in shown:
            extra = ", ".join(f"{key} {row[key]}" for key in row if key not in ROW_KEYS)
            lines.append(f"- {row['name']}: {extra}")
    lines += ["", "Steps:", ""]
    for step in document["steps"]:
        ending = "timed out" if step["returncode"] is None else f"exit {step['returncode']}"
        lines.append(f"- {step['name']} ({ending}, {step['seconds']:.0f} s): `{step['command']}`")
    return "\n".join(lines) + "\n"


ROW_KEYS = {"name", "measured_gib", "estimated_gib", "ratio", "status", "failed", "detail"}
