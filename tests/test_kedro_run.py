"""End to end: `kedro run` of a tiny sweep (conf/test: 2 levels × 2 seeds, 201-step schedule) through the real catalog."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tests.project import SEQUENTIAL, bootstrap, copy_finished, kedro_in_process

LEVELS = ("coverage_0", "coverage_0p01")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def catalog(tiny_sweep):
    import os

    from kedro.framework.session import KedroSession

    previous = os.getcwd()
    os.chdir(tiny_sweep)
    try:
        bootstrap(tiny_sweep)
        with KedroSession.create(project_path=tiny_sweep, env="test") as session:
            yield session.load_context().catalog
    finally:
        os.chdir(previous)


def test_every_run_persists_model_latents_history_and_record(catalog):
    for level in LEVELS:
        multiplier = catalog.load(f"levels.{level}.label_multiplier")
        assert multiplier["target_coverage"] in (0.0, 0.01)
        for seed in SEEDS:
            model = catalog.load(f"levels.{level}.model_seed_{seed}")
            state = model["state_dict"]
            assert state["encoder.0.weight"].shape == (16, 3)
            assert sum(t.numel() for t in state.values()) == 263
            history = catalog.load(f"levels.{level}.history_seed_{seed}")
            assert len(history) == 201 and history["lr"].iloc[-1] == pytest.approx(0.05)
            latents = catalog.load(f"levels.{level}.latents_seed_{seed}")
            assert set(latents["grid"]) == {"hue_ring", "hsv_grid_coarse", "rgb_grid_fine"}
            torch.testing.assert_close(
                torch.tensor(latents[["z0", "z1", "z2", "z3"]].to_numpy()).norm(dim=1),
                torch.ones(len(latents), dtype=torch.float32),
                check_dtype=False,
            )
            record = catalog.load(f"levels.{level}.run_record_seed_{seed}")
            assert record["seed"] == seed and record["configuration"]["seed"] == seed
            assert record["configuration"]["schedule_length"] == 201
            assert record["label_counts"]["n_samples"] == 195 * 64  # labelled terms are on for steps 0..194
            assert record["multiplier"] == multiplier["multiplier"]
            assert len(record["fingerprint"]) == 16
            coverage = multiplier["target_coverage"]
            assert model["run"] == {"coverage": coverage, "seed": seed, "fingerprint": record["fingerprint"]}


def test_state_dict_loads_with_weights_only(tiny_sweep):
    state = torch.load(tiny_sweep / "data/06_models/coverage_0p01/seed_1.pt", weights_only=True)["state_dict"]
    from ex_coverage.science.model import ColourAutoencoder

    ColourAutoencoder().load_state_dict(state)  # the plain state_dict, as the README shows


def test_run_table_and_report(tiny_sweep, catalog):
    runs = pd.read_csv(tiny_sweep / "data/08_reporting/coverage_runs.csv")
    required = [
        "coverage",
        "seed",
        "multiplier",
        "realised_coverage",
        "anchor_cos",
        "offplane_mean",
        "offplane_max",
        "winding",
        "monotone_fraction",
        "sextant_max_dev_deg",
        "mse_median",
        "mse_max",
        "suppression_r2",
        "ablation_r2",
        "structured",
        "controllable",
        "effective",
    ]
    assert list(runs.columns[: len(required)]) == required
    assert {"pass_m1", "pass_m2", "pass_m3", "pass_m4", "pass_m5"} <= set(runs.columns)
    assert runs[["suppression_r2", "ablation_r2"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (runs["pass_m5"] == (runs["suppression_r2"] >= 0.9)).all()
    assert (runs["controllable"] == runs["pass_m5"]).all()
    assert (runs["structured"] == runs[["pass_m1", "pass_m2", "pass_m3", "pass_m4"]].all(axis=1)).all()
    assert (runs["effective"] == (runs["structured"] & runs["controllable"])).all()
    assert sorted(zip(runs["coverage"], runs["seed"])) == [(0.0, 0), (0.0, 1), (0.01, 0), (0.01, 1)]
    assert (runs.loc[runs["coverage"] == 0, "realised_coverage"] == 0).all()
    assert runs.loc[runs["coverage"] == 0.01, "realised_coverage"].between(0.007, 0.013).all()
    summary = catalog.load("coverage_summary")
    assert list(summary["runs"]) == [2, 2]
    for name in ("structured", "controllable"):
        grouped = runs.groupby("coverage")[name].mean()
        assert list(summary[f"{name}_rate"]) == list(grouped)
        assert (summary[f"{name}_rate_low"] <= summary[f"{name}_rate"]).all()
        assert (summary[f"{name}_rate"] <= summary[f"{name}_rate_high"]).all()
    assert list(summary["pass_rate"]) == list(runs.groupby("coverage")["effective"].mean())
    critical = catalog.load("critical_coverage")
    assert set(critical["by_criterion"]) == {"structured", "controllable", "effective"}
    report = (tiny_sweep / "data/08_reporting/report.md").read_text()
    assert "## Answer" in report and "## Conclusion" in report
    assert "\n## Structure and control" in report and "## M5: suppressing the red direction" in report
    for name in ("structured", "controllable (M5)", "effective"):  # M5 and controllable are one criterion
        assert f"| {name} |" in report
    assert "| controllable |" not in report and "| m5 |" not in report
    for figure in (
        "coverage_metrics.png",
        "coverage_pass_rate.png",
        "coverage_latents.png",
        "levels/coverage_0p01_latents.png",
        "levels/coverage_0_suppression.png",
        "levels/coverage_0p01_suppression.png",
        "named_colour_deltas.png",
    ):
        assert (tiny_sweep / "data/08_reporting" / figure).read_bytes()[:4] == b"\x89PNG"


def test_a_grid_in_conf_local_is_honoured_and_a_grid_in_params_refused(tiny_sweep, tmp_path):
    project = copy_finished(tiny_sweep, tmp_path / "project")  # the training pipeline reads data engineering's output
    refused = kedro_in_process(
        project, "run", "--pipeline", "training", "--env", "test", *SEQUENTIAL, "--params", "sweep.seeds=[7]"
    )
    assert refused.returncode == 1 and refused.stderr.startswith("Error: --params sweep: the grid shapes the pipelines")
    assert "set it in conf/local/ (e.g. conf/local/parameters_sweep.yml)" in refused.stderr

    (project / "conf/local/parameters_sweep.yml").write_text("sweep:\n  coverages: [0.005]\n  seeds: [7]\n")
    result = kedro_in_process(project, "run", "--pipeline", "training", *SEQUENTIAL)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (project / "data/06_models/coverage_0p005/seed_7.pt").exists()
    assert not (project / "data/06_models/coverage_0p005/seed_0.pt").exists()


def test_named_colour_deltas(tiny_sweep, catalog):
    table = pd.read_csv(tiny_sweep / "data/08_reporting/named_colour_deltas.csv")
    assert list(table.columns) == ["coverage", "seed", "colour", "mse_none", "mse_suppressed", "delta"]
    assert len(table) == 2 * 2 * 17
    assert not table.duplicated(["coverage", "seed", "colour"]).any()
    assert set(table["colour"]) >= {"red", "rose", "blue", "grey v=0", "grey v=1"}
    assert table["delta"].to_numpy() == pytest.approx((table["mse_suppressed"] - table["mse_none"]).to_numpy())
    for level in LEVELS:
        cube = catalog.load(f"levels.{level}.suppression_seed_0")
        assert len(cube) == 512 and {"similarity", "target", "mse_suppressed", "mse_ablated"} <= set(cube.columns)


def test_m5_scores_are_those_of_the_saved_model(tiny_sweep, catalog):
    from ex_coverage.science.control import evaluate_control
    from ex_coverage.science.model import load_autoencoder

    runs = pd.read_csv(tiny_sweep / "data/08_reporting/coverage_runs.csv").set_index(["coverage", "seed"])
    table = pd.read_csv(tiny_sweep / "data/08_reporting/named_colour_deltas.csv")
    result = evaluate_control(load_autoencoder(catalog.load("levels.coverage_0p01.model_seed_1")))
    assert result.scores["suppression_r2"] == pytest.approx(runs.loc[(0.01, 1), "suppression_r2"], rel=1e-9)
    assert result.scores["ablation_r2"] == pytest.approx(runs.loc[(0.01, 1), "ablation_r2"], rel=1e-9)
    saved = table[(table["coverage"] == 0.01) & (table["seed"] == 1)]
    assert saved["delta"].to_numpy() == pytest.approx(result.named["delta"].to_numpy(), rel=1e-6, abs=1e-12)
