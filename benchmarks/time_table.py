"""Print rows of docs/time.md's per-profile table from the JSON of `python -m fastmri_pl.memory`.

    .venv/bin/python -m fastmri_pl.memory model=promptmr hardware=gtx1080 memory.coils=20 \
        memory.method=composed memory.output=gtx1080.json
    .venv/bin/python benchmarks/time_table.py gtx1080=gtx1080.json [LABEL=FILE ...] [leaderboard_slices=N]

One markdown row per estimate, labelled by LABEL (the profile, as the table names it): the traced shape, the
levers, the allocated training peak, what the card holds (reserved + workspace + context), TFLOP per training
step, the projected seconds per step and hours per epoch (`memory.dataset_slices` steps), TFLOP per
leaderboard slice, the projected leaderboard seconds and milliseconds per slice. leaderboard_slices must be
the `memory.leaderboard_slices` the estimates ran with (default: conf/memory.yaml's). The times are the
roofline's projection at the profile's efficiency range, never a measurement (`time_assumption` says which).
A plan's JSON (`memory.plan=true`) gives its chosen levers' row.
"""

import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR

HEADER = (
    "| profile | shape (slices × coils × H × W) | levers (checkpoint / cascades / sens chunk) "
    "| allocated GiB | card GiB | TFLOP per step | s per step | h per epoch | TFLOP per slice "
    "| leaderboard s | ms per slice |"
)


def span(values: list[float], digits: int) -> str:
    return "–".join(f"{value:,.{digits}f}" for value in values)


def levers_text(levers: dict[str, Any]) -> str:
    if levers["checkpoint"] == "none":
        return f"none / — / {levers['sens_chunk']}"
    cascades = levers.get("checkpoint_cascades")
    return f"{levers['checkpoint']} / {f'first {cascades}' if cascades else 'all'} / {levers['sens_chunk']}"


def card_text(document: dict[str, Any]) -> str:
    need, total = document.get("card_fit_gib"), document.get("card_gib")
    if need is None or total is None:
        return "—"
    return f"{need:.2f}" if need <= total else f"{need:.2f} (does not fit {total:.2f})"


def row(label: str, document: dict[str, Any], leaderboard_slices: int) -> str:
    shape = document["shape"]
    ms_per_slice = [seconds * 1e3 / leaderboard_slices for seconds in document["leaderboard_s"]]
    return (
        f"| {label} | {shape['adj_slices']} × {shape['coils']} × {shape['height']} × {shape['width']} "
        f"| {levers_text(document['levers'])} | {document['train_peak_gib']:.2f} | {card_text(document)} "
        f"| {document['train_tflop']:.2f} | {span(document['step_s'], 1)} | {span(document['epoch_h'], 1)} "
        f"| {document['infer_tflop']:.2f} | {span(document['leaderboard_s'], 0)} | {span(ms_per_slice, 0)} |"
    )


def main(argv: list[str]) -> None:
    if not argv or any("=" not in arg for arg in argv):
        raise SystemExit("usage: time_table.py LABEL=FILE.json [LABEL=FILE.json ...] [leaderboard_slices=N]")
    options = dict(arg.split("=", 1) for arg in argv)
    default = OmegaConf.load(Path(CONFIG_DIR) / "memory.yaml").memory.leaderboard_slices
    slices = int(options.pop("leaderboard_slices", default))
    print(HEADER)
    print("|---" * (HEADER.count("|") - 1) + "|")
    for label, path in options.items():
        print(row(label, json.loads(Path(path).read_text()), slices))


if __name__ == "__main__":
    main(sys.argv[1:])
