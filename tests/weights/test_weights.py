"""`python -m fastmri_pl.weights`: reference-layout checkpoints -> ours: equal outputs, refusals, use."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from fastmri_pl.errors import DataError
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.runs.atomic import WriteError
from fastmri_pl.train import train
from fastmri_pl.training import build
from fastmri_pl.weights import cli as weights_cli
from fastmri_pl.weights.checkpoint import load_net_weights
from fastmri_pl.weights.cli import import_weights
from fastmri_pl.weights.promptmr_map import promptmr_key_map
from tests.helpers.reference_layouts import RefPromptMR, RefVarNet, kspace_batch, perturbed, relative_error

PROMPTMR_SIZES = (
    "n_feat0",
    "feature_dim",
    "prompt_dim",
    "sens_n_feat0",
    "sens_feature_dim",
    "sens_prompt_dim",
    "len_prompt",
    "prompt_size",
    "n_enc_cab",
    "n_dec_cab",
    "n_skip_cab",
    "n_bottleneck_cab",
    "no_use_ca",
)
# 4 pools as fastMRI pads to 16; tiny widths
VARNET_OVERRIDES = ["model=varnet_small", "model.net.pools=4", "model.net.sens_pools=4", "model.net.chans=4"]


def weights_config(compose_config: Callable[..., DictConfig], tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config(list(overrides), output_dir=tmp_path, config_name="weights")


def promptmr_import(source: Path, out: Path) -> list[str]:
    """The command's arguments importing the reference PromptMR checkpoint `source` into `out`."""
    return [
        "model=promptmr_small",
        "weights.source=promptmr_reference",
        f"weights.input={source}",
        f"weights.output={out}",
    ]


@pytest.fixture
def promptmr_reference(tmp_path: Path, compose_config) -> tuple[RefPromptMR, Path, DictConfig]:
    """A reference-layout PromptMR of `promptmr_small`'s sizes, saved as the reference's Lightning module
    would (prefix `promptmr.`, plus its SSIM loss buffer)."""
    cfg = weights_config(compose_config, tmp_path, "model=promptmr_small")
    sizes = {key: cfg.model.net[key] for key in PROMPTMR_SIZES}
    reference = perturbed(RefPromptMR(cfg.model.net.num_cascades, cfg.model.num_adj_slices, **sizes), seed=1)
    state = {f"promptmr.{key}": value for key, value in reference.state_dict().items()}
    state["loss.w"] = torch.ones(1, 1, 7, 7)
    path = tmp_path / "reference.ckpt"
    torch.save({"state_dict": state, "epoch": 3}, path)
    return reference, path, cfg


@pytest.mark.slow
def test_imported_promptmr_reference_weights_give_the_reference_output(
    promptmr_reference, tmp_path: Path, compose_config
) -> None:
    reference, source, _ = promptmr_reference
    out = tmp_path / "imported.ckpt"
    cfg = weights_config(compose_config, tmp_path, *promptmr_import(source, out))
    import_weights(cfg)
    net = build.build_net(cfg).eval()
    load_net_weights(net, out)
    batch = kspace_batch(cfg.model.num_adj_slices)
    with torch.no_grad():
        expected, image = reference(*batch), net(*batch)
        # key by key, without the channel permutation: the cascades see their channels scrambled
        ours, theirs = net.state_dict(), reference.state_dict()
        net.load_state_dict(
            {k: theirs[s.key].reshape(ours[k].shape) for k, s in promptmr_key_map(net).items()}
        )
        unpermuted = net(*batch)
    assert relative_error(image, expected) < 1e-5
    assert relative_error(unpermuted, expected) > 1e-2


def test_imported_fastmri_varnet_weights_give_the_reference_output(tmp_path: Path, compose_config) -> None:
    cfg = weights_config(compose_config, tmp_path, *VARNET_OVERRIDES)
    net_cfg = cfg.model.net
    reference = perturbed(
        RefVarNet(net_cfg.num_cascades, net_cfg.chans, net_cfg.pools, net_cfg.sens_chans, net_cfg.sens_pools),
        seed=2,
    )
    source, out = tmp_path / "varnet_state_dict.pt", tmp_path / "varnet.ckpt"
    torch.save(reference.state_dict(), source)  # a bare state_dict, as fastMRI publishes
    cfg = weights_config(
        compose_config,
        tmp_path,
        *VARNET_OVERRIDES,
        "weights.source=fastmri_varnet",
        f"weights.input={source}",
        f"weights.output={out}",
    )
    import_weights(cfg)
    net = build.build_net(cfg).eval()
    load_net_weights(net, out)
    batch = kspace_batch(1, coils=3, height=20, width=18)
    with torch.no_grad():
        assert relative_error(net(*batch), reference(*batch)) < 1e-5


def test_what_cannot_be_mapped_is_refused_naming_the_keys(
    promptmr_reference, tmp_path: Path, compose_config
) -> None:
    _, source, _ = promptmr_reference
    state = torch.load(source, weights_only=True)["state_dict"]
    del state["promptmr.cascades.1.dc_weight"]
    state["promptmr.cascades.0.extra.weight"] = torch.zeros(2)
    broken, out = tmp_path / "broken.ckpt", tmp_path / "out.ckpt"
    torch.save(state, broken)
    common = ["weights.source=promptmr_reference", f"weights.output={out}"]
    cfg = weights_config(compose_config, tmp_path, "model=promptmr_small", *common, f"weights.input={broken}")
    with pytest.raises(DataError, match="cascades.1.dc_weight.*cascades.0.extra.weight") as error:
        import_weights(cfg)
    assert error.value.path == str(broken) and not out.exists()
    cfg = weights_config(
        compose_config,
        tmp_path,
        "model=promptmr_small",
        "model.num_adj_slices=5",
        *common,
        f"weights.input={source}",
    )
    with pytest.raises(DataError, match=r"shape differs.*feat_extract.weight \(8, 6, 3, 3\)"):
        import_weights(cfg)
    cfg = weights_config(compose_config, tmp_path, "model=varnet_small", *common, f"weights.input={source}")
    with pytest.raises(DataError, match="needs a PromptMR, got VarNet"):
        import_weights(cfg)
    varnet = [
        "model=varnet_small",
        "weights.source=fastmri_varnet",
        f"weights.output={out}",
        f"weights.input={source}",
    ]
    with pytest.raises(DataError, match="only pools=4 and sens_pools=4"):
        import_weights(weights_config(compose_config, tmp_path, *varnet))
    assert not out.exists()


def test_cli_refuses_to_overwrite_with_one_line(
    promptmr_reference, tmp_path: Path, compose_config, capsys, monkeypatch: pytest.MonkeyPatch, run_main
) -> None:
    _, source, _ = promptmr_reference
    out = tmp_path / "imported.ckpt"
    arguments = promptmr_import(source, out)
    import_weights(weights_config(compose_config, tmp_path, *arguments))
    assert "(prefix 'promptmr.'); ignored 1 keys outside it: loss.w" in capsys.readouterr().out
    written = out.read_bytes()
    monkeypatch.chdir(tmp_path)  # hydra.run.dir is `.`
    code, stderr = run_main(weights_cli, *arguments)
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"error: {out}: already exists; pass weights.overwrite=true to replace it"
    ]
    assert out.read_bytes() == written


def test_full_disk_keeps_the_earlier_import(
    promptmr_reference, tmp_path: Path, compose_config, full_disk
) -> None:
    """`weights.overwrite=true` on a full disk: a `WriteError` (one line), the earlier file intact."""
    _, source, _ = promptmr_reference
    out = tmp_path / "imported.ckpt"
    arguments = promptmr_import(source, out)
    import_weights(weights_config(compose_config, tmp_path, *arguments))
    written = out.read_bytes()
    full_disk()
    with pytest.raises(WriteError, match="No space left on device") as error:
        import_weights(weights_config(compose_config, tmp_path, *arguments, "weights.overwrite=true"))
    assert error.value.path == str(out)
    assert out.read_bytes() == written
    assert [p.name for p in out.parent.glob("*imported.ckpt*")] == ["imported.ckpt"]  # no temporary left


@pytest.mark.slow
def test_imported_checkpoint_reconstructs_and_starts_training(
    tmp_path: Path, compose_config, data_snu_root: Path, train_tiny_overrides: list[str]
) -> None:
    """`reconstruct ckpt_path=` reads it; `train init_from=` starts from its weights (lr 0 keeps them)."""
    cfg = weights_config(compose_config, tmp_path, *VARNET_OVERRIDES)
    reference = perturbed(RefVarNet(4, 4, 4, cfg.model.net.sens_chans, 4), seed=3)
    source, out = tmp_path / "varnet.pt", tmp_path / "varnet.ckpt"
    torch.save(reference.state_dict(), source)
    import_weights(
        weights_config(
            compose_config,
            tmp_path,
            *VARNET_OVERRIDES,
            "weights.source=fastmri_varnet",
            f"weights.input={source}",
            f"weights.output={out}",
        )
    )
    recon = compose_config(
        [
            *VARNET_OVERRIDES,
            f"data.root={data_snu_root}",
            "data.readout_crop=false",  # the references train on the whole readout
            f"ckpt_path={out}",
            f"output_dir={tmp_path / 'recon'}",
        ],
        output_dir=tmp_path / "recon_run",
        config_name="reconstruct",
    )
    assert all(path.is_file() for path in reconstruct(recon).files)

    run_dir = tmp_path / "run"
    overrides = [*train_tiny_overrides, *VARNET_OVERRIDES, f"init_from={out}", "model.optimizer.lr=0"]
    train(
        compose_config(
            [*overrides, "validate_best=false", "+trainer.limit_train_batches=1"], output_dir=run_dir
        )
    )
    trained = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    imported = torch.load(out, weights_only=True)["state_dict"]
    for key, value in imported.items():
        assert torch.equal(trained["state_dict"][key], value), key
    assert trained["epoch"] == 0 and trained["global_step"] == 1

    with pytest.raises(DataError, match="init_from"):
        train(compose_config([*overrides, f"ckpt_path={out}"], output_dir=tmp_path / "both"))
