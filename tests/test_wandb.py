"""W&B offline: a real run folder with the logged keys, image panels and the per-volume table, read back."""

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory, data_snu_root: Path) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("wandb_run") / "run"
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        "model=varnet_small",
        "hardware=cpu",
        "logger=wandb",
        "logger.wandb.tags=[ci]",
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        "model.net.num_cascades=1",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "trainer.log_every_n_steps=1",
        "validate_best=false",
        "callbacks.recon_images.every_n_epochs=1",
        "~callbacks.progress_bar",
        f"hydra.run.dir={output}",
    ]
    environment = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result.stdout


def test_startup_line_names_model_data_profile_precision_levers_folder(wandb_run: tuple[Path, str]) -> None:
    output, stdout = wandb_run
    line = next(line for line in stdout.splitlines() if line.startswith("model="))
    for part in ("model=varnet_small", "profile=cpu", "precision=32-true", "checkpoint=none", str(output)):
        assert part in line, (part, line)


def test_offline_run_holds_metrics_images_and_table(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    (run_dir,) = (output / "wandb").glob("offline-run-*")
    keys, config_keys, tags = set(), set(), []
    for record in wandb_records(next(run_dir.glob("run-*.wandb"))):
        if record.HasField("history"):
            keys |= {item.key or "/".join(item.nested_key) for item in record.history.item}
        if record.HasField("config"):
            config_keys |= {item.key for item in record.config.update}
        if record.HasField("run"):
            tags = list(record.run.tags)
    expected = ["train/loss", "val/ssim", "val/ssim_acc4", "val/ssim_acc8", "val_zf/ssim", "val/psnr_acc4"]
    expected += ["val/nmse", "lr-Adam", "throughput/train_slices_per_s", "model/parameters"]
    assert set(expected) <= keys, set(expected) - keys
    assert {"images/val_acc4/filenames", "val/volumes_table/nrows"} <= keys
    assert {"model", "hardware", "data", "trainer"} <= config_keys  # the resolved Hydra config
    assert tags == ["ci"]
    images = sorted((run_dir / "files" / "media" / "images").rglob("*.png"))
    assert len(images) >= 2 and all(p.stat().st_size > 1000 for p in images)
    assert list((run_dir / "files" / "media" / "table").rglob("*.table.json"))


def test_panels_are_saved_as_png_in_the_run_folder(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    names = sorted(p.name for p in (output / "images").glob("*.png"))
    assert names == ["val_acc4_epoch000.png", "val_acc8_epoch000.png"]
