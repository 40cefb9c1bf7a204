"""Reading real W&B offline run folders (`wandb/offline-run-*/run-*.wandb`) back, for the tests."""

import struct
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK, HEADER = 32768, 7  # the .wandb file is a LevelDB-style log of protobuf records


def wandb_records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, chunks = HEADER, b""
    while position + HEADER <= len(data):
        if BLOCK - position % BLOCK < HEADER:  # block trailer padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if kind == 0:
            break
        chunks += data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        if kind in (1, 4):  # a full record, or the last part of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def records(run_dir: Path, kind: str) -> list[wandb_internal_pb2.Record]:
    """The records of one kind (`history`, `config`, `run`, `exit`, ...) of an offline run folder."""
    (path,) = run_dir.glob("run-*.wandb")
    return [record for record in wandb_records(path) if record.HasField(kind)]


def run_record(run_dir: Path, kind: str) -> wandb_internal_pb2.Record:
    """The last record of one kind (e.g. `exit`: how the run was finished)."""
    found = records(run_dir, kind)
    assert found, f"no {kind} record in {run_dir}"
    return found[-1]
