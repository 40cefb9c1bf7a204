"""Checkpoints a resume can trust, on a tiny model: mid-epoch and epoch-start resumes equal the uninterrupted
run (batch order, random draws, scheduler); writes are atomic and a failed one names the file."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fastmri_pl.callbacks.checkpoint import RunCheckpoint
from fastmri_pl.data.sampler import EpochShuffleSampler, ResumableLoader, ShardedEpochSampler
from fastmri_pl.runs.atomic import WriteError, check_writable_folder, write_atomically
from fastmri_pl.runs.checkpoint_io import AtomicCheckpointIO
from tests.helpers.kill import Kill

SAMPLES = 8


class Numbers(Dataset):
    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index)])


class Tiny(L.LightningModule):
    """Records every (epoch, sample, learning rate) it trains on; its step draws from the global RNG."""

    def __init__(self, num_workers: int = 0) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.num_workers = num_workers
        self.seen: list[tuple[int, int, float]] = []

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        lr = self.optimizers().param_groups[0]["lr"]
        self.seen.append((self.current_epoch, int(batch[0, 0]), lr))
        noise = torch.rand_like(batch)  # what dropout would draw
        return (self.layer(batch * noise) - 1).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/score", -self.layer(batch).abs().mean())

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def train_dataloader(self) -> DataLoader:
        sampler = EpochShuffleSampler(SAMPLES, seed=3)
        generator = torch.Generator().manual_seed(3)
        return ResumableLoader(
            Numbers(), batch_size=2, sampler=sampler, generator=generator, num_workers=self.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(Numbers(), batch_size=4)


def fit(folder: Path, module: Tiny, *extra: L.Callback, ckpt_path: str | None = None, **checkpoint) -> None:
    callback = RunCheckpoint(dirpath=str(folder), monitor="val/score", mode="max", **checkpoint)
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[callback, *extra],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    trainer.fit(module, ckpt_path=ckpt_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("num_workers", "kill_epoch", "kill_batch", "interval"),
    [(0, 1, 2, 0.0), (1, 1, 2, 0.0), (1, 2, None, None)],
    ids=["mid-epoch", "mid-epoch-workers", "epoch-start-workers"],
)
def test_killed_run_resumes_like_the_uninterrupted_one(
    num_workers, kill_epoch, kill_batch, interval, tmp_path
):
    """A kill after a mid-epoch save (interval 0: after every step) or at an epoch start resumes with the same
    batches, random draws, learning rates and final weights."""
    L.seed_everything(0)
    straight = Tiny(num_workers)
    fit(tmp_path / "straight", straight, train_time_interval_min=interval)
    L.seed_everything(0)
    killed = Tiny(num_workers)
    with pytest.raises(KeyError, match="killed"):
        fit(tmp_path / "killed", killed, Kill(kill_epoch, kill_batch), train_time_interval_min=interval)
    last = tmp_path / "killed" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == kill_epoch * 4 + (kill_batch or 0)
    L.seed_everything(123)  # a resumed process starts from another random state
    resumed = Tiny(num_workers)
    fit(tmp_path / "killed", resumed, ckpt_path=str(last), train_time_interval_min=interval)
    assert killed.seen + resumed.seen == straight.seen
    torch.testing.assert_close(resumed.layer.weight, straight.layer.weight, rtol=0, atol=0)


def test_mid_epoch_saves_wait_for_the_interval_and_an_optimizer_step(tmp_path):
    """With accumulation over 3 batches, a save may only follow a step; a long interval saves only at ends."""
    saves: list[int] = []

    class Count(L.Callback):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
            saves.append(trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    for interval, expected in ((0.0, [3, 4] * 3), (60.0, [4] * 3)):
        saves.clear()
        folder = str(tmp_path / str(interval))
        callback = RunCheckpoint(dirpath=folder, save_top_k=0, train_time_interval_min=interval)
        trainer = L.Trainer(
            max_epochs=3,
            accumulate_grad_batches=3,
            callbacks=[callback, Count()],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
        )
        trainer.fit(Tiny())
        assert saves == expected, interval  # batch 3 stepped; batch 4 is the epoch's last (its end saves)


def test_negative_interval_is_refused():
    with pytest.raises(ValueError, match="train_time_interval_min must be >= 0"):
        RunCheckpoint(train_time_interval_min=-1)


def test_loader_state_counts_the_batches_handed_out():
    sampler = EpochShuffleSampler(SAMPLES, seed=1)
    loader = ResumableLoader(Numbers(), batch_size=3, sampler=sampler)
    sampler.set_epoch(2)
    order = [int(x) for batch in loader for x in batch[:, 0]]
    iterator = iter(loader)
    next(iterator)
    assert loader.state_dict() == {"epoch": 2, "start": 3}
    fresh_sampler = EpochShuffleSampler(SAMPLES, seed=1)
    fresh = ResumableLoader(Numbers(), batch_size=3, sampler=fresh_sampler)
    fresh.load_state_dict(loader.state_dict())
    fresh_sampler.set_epoch(2)  # what Lightning calls before the resumed epoch: keeps the position
    assert [int(x) for batch in fresh for x in batch[:, 0]] == order[3:]
    fresh_sampler.set_epoch(3)  # the next epoch starts from its beginning
    assert len([x for batch in fresh for x in batch[:, 0]]) == SAMPLES


def test_ddp_shares_resume_where_rank_zero_stopped():
    """Two ranks split the single-process permutation; a loader state taken on rank 0 after one batch makes
    each rank skip that many samples of its own share."""
    ranks = [ShardedEpochSampler(Numbers(), num_replicas=2, rank=r, seed=1) for r in range(2)]
    single = EpochShuffleSampler(SAMPLES, seed=1)
    for sampler in (*ranks, single):
        sampler.set_epoch(2)
    shares = [list(sampler) for sampler in ranks]
    assert sorted(shares[0] + shares[1]) == list(range(SAMPLES)) and shares[0] == list(single)[0::2]
    loader = ResumableLoader(Numbers(), batch_size=2, sampler=ranks[0])
    next(iter(loader))
    state = loader.state_dict()
    assert state == {"epoch": 2, "start": 2}
    for rank, share in enumerate(shares):
        resumed = ShardedEpochSampler(Numbers(), num_replicas=2, rank=rank, seed=1)
        ResumableLoader(Numbers(), batch_size=2, sampler=resumed).load_state_dict(state)
        resumed.set_epoch(2)
        assert list(resumed) == share[2:]


def test_failed_write_keeps_the_earlier_file_and_names_the_cause(tmp_path, full_disk):
    path = tmp_path / "last.ckpt"
    write_atomically(path, b"epoch 0")
    full_disk()
    with pytest.raises(WriteError, match=r"last\.ckpt: cannot be written \(No space left on device\)"):
        write_atomically(path, b"epoch 1, much longer")
    assert path.read_bytes() == b"epoch 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_file_where_the_folder_should_be_is_named(tmp_path):
    (tmp_path / "checkpoints").write_text("not a folder")
    with pytest.raises(WriteError, match=r"checkpoints is a file, not a folder"):
        check_writable_folder(tmp_path / "checkpoints")
    with pytest.raises(WriteError, match=r"checkpoints is a file, not a folder"):
        write_atomically(tmp_path / "checkpoints" / "last.ckpt", b"")
