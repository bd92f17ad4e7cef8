"""The catalogue of bad inputs: each stops `kedro run` with one `Error:` line naming what and where, and overwrites nothing.

The runs are the project's `kedro run` command in-process (tests/project.py ``kedro_in_process``): the same CLI,
hooks, runner and error handling, without a process start-up per case. An input refused before anything runs is
refused alike by every runner, so those runs are sequential; the cases marked ``ON_SWEEP_RUNNER`` (errors raised
inside a node, which cross SweepRunner's worker processes, and one refusal before the run) use the default
runner, on the pytest-xdist worker whose forkserver has imported torch and Lightning (conftest ``ON_FORKSERVER``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ON_FORKSERVER
from tests.project import SEQUENTIAL, copy_finished, data_files, kedro_in_process

SCHEDULE = "data/01_raw/dopesheet_short.csv"
ON_SWEEP_RUNNER = ON_FORKSERVER
GOOD_SCHEDULE = """STEP,PHASE,ACTION,lr,reg-separate,reg-anchor,reg-planar
0,Train,,1e-8,0.01,0.02,0.01
+10,,,0.01,,,
+0.5,,,,0.01,,
150,,,0.2,0.015,0.2,0.2
+0.9,,,0.1,0,0,0
200,,,0.05,0,,0
"""


@pytest.fixture(scope="module")
def finished(tiny_sweep, tmp_path_factory):
    """A copy of the finished tiny sweep, so that "overwrites nothing" is checked against real results."""
    return copy_finished(tiny_sweep, tmp_path_factory.mktemp("bad") / "project")


#: Inputs data engineering derives from the raw files (parsed schedule, grids, label multipliers).
DERIVED = ("02_intermediate", "05_model_input")


def on_sweep_runner(request) -> bool:
    """Whether this case runs on the default runner (it is marked ``ON_SWEEP_RUNNER``)."""
    return request.node.get_closest_marker("xdist_group") is not None


def run_and_check(project: Path, *args: str, derived_may_change: bool = False, sweep_runner: bool = False) -> str:
    """Run the sweep (sequentially unless ``sweep_runner``), expect one Error line and no file changed.

    With ``derived_may_change`` (an input that parses but fails in training) data engineering has
    legitimately re-derived its outputs from the new raw file; the results must still be untouched.
    """

    def files() -> dict[str, bytes]:
        found = data_files(project)
        return {k: v for k, v in found.items() if not (derived_may_change and Path(k).parts[1] in DERIVED)}

    before = files()
    runner = () if sweep_runner else SEQUENTIAL
    result = kedro_in_process(project, "run", "--pipeline", "sweep", "--env", "test", *runner, *args)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert not result.traceback, result.exception  # the CLI handled it: no traceback
    assert "Traceback" not in result.stderr
    assert files() == before
    return errors[0]


@pytest.mark.parametrize(
    "sweep, message",
    [
        pytest.param(
            "coverages: [-0.1]\n  seeds: [0]", "sweep.coverages[0] = -0.1 is outside [0, 1)", marks=ON_SWEEP_RUNNER
        ),
        ("coverages: [1.0]\n  seeds: [0]", "sweep.coverages[0] = 1.0 is outside [0, 1)"),
        ("coverages: [abc]\n  seeds: [0]", "sweep.coverages[0] = 'abc' is not a number"),
        ("coverages: [0.9995]\n  seeds: [0]", "sweep.coverages entry 0.9995: coverage 0.9995 is not reachable"),
        ("coverages: [0.01]\n  seeds: []", "sweep.seeds must be a non-empty list of integers"),
        ("coverages: [0.01]\n  seeds: [1.5]", "sweep.seeds[0] = 1.5 is not a non-negative integer"),
        ("coverages: [0.01]\n  seeds: [1, 1]", "sweep.seeds[1] = 1 is duplicated"),
        (
            "coverages: [0.01]\n  seeds: [1180591620717411303424]",
            "sweep.seeds[0] = 1180591620717411303424 is too large",
        ),
        ("coverages: [0.01]\n  seeds: [0]\n  seed: [1]", "unknown key sweep.seed (allowed: coverages, seeds)"),
    ],
    ids=[
        "coverage-negative",
        "coverage-one",
        "coverage-abc",
        "coverage-unreachable",
        "seeds-empty",
        "seeds-fraction",
        "seeds-duplicated",
        "seed-2**70",
        "unknown-key",
    ],
)
def test_bad_grid(finished, sweep, message, request):
    grid = finished / "conf/test/parameters_sweep.yml"
    original = grid.read_text()
    grid.write_text(f"sweep:\n  {sweep}\n")
    try:
        assert message in run_and_check(finished, sweep_runner=on_sweep_runner(request))
    finally:
        grid.write_text(original)


@pytest.mark.parametrize(
    "schedule, message",
    [
        (GOOD_SCHEDULE.replace("STEP,", "STAGE,"), f"{SCHEDULE}: no STEP column"),
        (
            "STEP,lr\n+0.5,1\n+5,2\n",
            f"{SCHEDULE}, row 2, column 'STEP': fractional step '+0.5' needs anchor steps before and after it",
        ),
        (
            GOOD_SCHEDULE.replace("+0.9", "+1.5"),
            f"{SCHEDULE}, row 6, column 'STEP': fractional step '+1.5' must lie strictly between 0 and 1",
        ),
        (GOOD_SCHEDULE.replace("+10", "abc"), f"{SCHEDULE}, row 3, column 'STEP': cannot read step 'abc'"),
        (GOOD_SCHEDULE.replace("0.015", "fast"), f"{SCHEDULE}, row 5, column 'reg-separate': 'fast' is not a number"),
        (
            GOOD_SCHEDULE.replace(",lr,", ",lr::cubic,"),
            f"{SCHEDULE}, row 1, column 'lr::cubic': unknown interpolator 'cubic'",
        ),
        (
            GOOD_SCHEDULE.replace(",lr,", ",lr:log,").replace("1e-8", "0"),
            f"{SCHEDULE}, row 2, column 'lr:log': '0' must be positive in log space",
        ),
        (None, f"{SCHEDULE}: schedule file not found"),
        pytest.param(
            "STEP,lr\n0,1e30\n20,1e30\n", "loss term 'reconstruction' became nan at step 1", marks=ON_SWEEP_RUNNER
        ),
        (
            GOOD_SCHEDULE.replace("+10,,,0.01", "+10,,,-0.01"),
            f"{SCHEDULE}, column 'lr': value -8.55901e-05 at step 1 (after interpolation); the learning rate must be > 0",
        ),
        (
            GOOD_SCHEDULE.replace("0,Train,,1e-8,0.01,0.02", "0,Train,,1e-8,0.01,-0.02"),
            f"{SCHEDULE}, column 'reg-anchor': value -0.02 at step 0 (after interpolation); a regularizer weight must be ≥ 0",
        ),
        (
            GOOD_SCHEDULE.replace("reg-planar", "reg-planer"),
            f"{SCHEDULE}: unknown column(s) 'reg-planer' (known properties: lr, reg-anchor, reg-separate, reg-planar, "
            "reg-anti-anchor, reg-unit)",
        ),
    ],
    ids=[
        "no-step",
        "fraction-without-anchors",
        "fraction-above-one",
        "step-abc",
        "non-numeric",
        "unknown-interpolator",
        "zero-in-log-space",
        "missing-file",
        "diverging-lr",
        "negative-lr",
        "negative-weight",
        "unknown-column",
    ],
)
def test_bad_schedule(finished, schedule, message, request):
    path = finished / SCHEDULE
    try:
        if schedule is None:
            path.unlink()
        else:
            path.write_text(schedule)
        error = run_and_check(
            finished, derived_may_change="became nan" in message, sweep_runner=on_sweep_runner(request)
        )
        assert message in error
        if "became nan" in message:
            assert error.startswith("Error: coverage ") and "(seed " in error
    finally:
        path.write_text(GOOD_SCHEDULE)


@ON_SWEEP_RUNNER
def test_corrupted_model_met_by_scoring(finished):
    model = finished / "data/06_models/coverage_0/seed_0.pt"
    original = model.read_bytes()
    model.write_bytes(original[: len(original) // 2])
    try:
        error = run_and_check(finished, "--from-nodes", "levels.coverage_0.score_seeds", sweep_runner=True)
        assert "data/06_models/coverage_0/seed_0.pt is unreadable or corrupted" in error
    finally:
        model.write_bytes(original)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            "training.batch_size=64,training.threads=0",
            "conf/<env>/parameters_training.yml: training.threads = 0 must be an integer ≥ 1",
        ),
        ("training.batch_size=0", "training.batch_size = 0 must be an integer ≥ 1"),
        (
            "training.batch_size=64,training.batchsize=32",
            "unknown key training.batchsize (allowed: batch_size, validate_every",
        ),
        ("training.batch_size=64,training.accelerator=tpu3", "training.accelerator = 'tpu3' is not one of cpu, gpu"),
    ],
    ids=["threads-zero", "batch-size-zero", "unknown-training-key", "unknown-accelerator"],
)
def test_bad_parameters(finished, params, message):
    assert message in run_and_check(finished, "--params", params)


@ON_SWEEP_RUNNER
def test_a_diverging_batch_of_levels_names_a_level(finished):
    """One worker: both test levels train as one ensemble (SweepRunner's batch), and the error still names
    the level, term, step and seed in one line; nothing is overwritten."""
    path = finished / SCHEDULE
    try:
        path.write_text("STEP,lr\n0,1e30\n20,1e30\n")
        error = run_and_check(finished, "--runner-params", "max_workers=1", derived_may_change=True, sweep_runner=True)
        assert (
            error.startswith("Error: coverage ") and "loss term 'reconstruction' became nan at step 1 (seed " in error
        )
    finally:
        path.write_text(GOOD_SCHEDULE)
