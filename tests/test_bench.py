"""`python -m fastmri_pl.bench` on CPU: one model x one profile x one step prints one row."""

from hydra import compose, initialize_config_dir

from fastmri_pl.bench import cpu_precision, run
from fastmri_pl.memory.cli import CONFIG_DIR


def test_one_configuration_one_step_prints_a_row(capsys):
    overrides = [
        "bench.models=[varnet_small]",
        "bench.profiles=[gtx1080]",
        "bench.steps=1",
        "bench.warmup=0",
        "bench.cpu_shape={coils: 2, height: 32, width: 32}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        (row,) = run(compose("bench", overrides=overrides))
    assert (row.model, row.profile, row.precision, row.peak_source) == (
        "VarNet",
        "gtx1080",
        "bf16-mixed",
        "estimated",
    )
    assert row.levers == "level/s1/c16/off"
    assert row.params > 0 and row.step_seconds > 0 and row.relative_step > 0
    assert 0 < row.infer_peak_gib <= row.train_peak_gib
    printed = capsys.readouterr().out
    assert "CPU run" in printed and "VarNet" in printed and "relative_step" in printed


def test_cpu_runs_fp16_profiles_as_bf16():
    assert cpu_precision("16-mixed") == "bf16-mixed" and cpu_precision("32-true") == "32-true"
