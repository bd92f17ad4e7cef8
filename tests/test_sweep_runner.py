"""SweepRunner trains coverage levels together: the batches it plans, and the same results as one level at a time."""

from __future__ import annotations

from collections import Counter
from itertools import chain

import pytest

from ex_coverage.ensembles import plan_training_batches, train_levels_together, trains_together
from ex_coverage.pipelines.training.pipeline import create_pipeline
from ex_coverage.sweep import parse_grid, parse_refinement
from tests.conftest import ON_FORKSERVER
from tests.project import TO_RUN_TABLE, copy_project, data_files, kedro_in_process

GRID = parse_grid({"coverages": [0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.1], "seeds": [0, 1, 2]})


def runs(batch) -> int:
    return sum(len(node.func.kwargs["seeds"]) for node in batch)


@pytest.mark.parametrize(("workers", "max_runs", "batches"), [(2, 64, 2), (1, 64, 1), (2, 6, 6), (16, 64, 11)])
def test_every_training_node_is_in_exactly_one_batch_and_runs_are_spread_evenly(workers, max_runs, batches):
    grid = parse_refinement({"levels": [{"coverage": 0.003, "seeds": [10, 11, 12, 13, 14]}]}, GRID)
    nodes = create_pipeline(grid).nodes
    planned = plan_training_batches(nodes, workers, max_runs)
    training = [n for n in nodes if trains_together(n)]
    assert len(training) == 11 and len(nodes) > len(training)
    assert Counter(n for batch in planned for n in batch) == Counter(training)
    assert len(planned) == batches
    sizes = [runs(batch) for batch in planned]
    assert max(sizes) - min(sizes) <= 5  # no batch is more than one level (the largest has 5 runs) above another
    assert plan_training_batches(reversed(nodes), workers, max_runs) == planned  # deterministic


def test_a_batch_exceeds_the_run_limit_only_when_one_level_does():
    grid = parse_grid({"coverages": [0.001 * k for k in range(1, 17)], "seeds": list(range(60))})
    nodes = create_pipeline(grid).nodes
    planned = plan_training_batches(nodes, 2, 64)
    assert len(planned) == 16 and {len(batch) for batch in planned} == {1}
    assert sorted(runs(b) for b in plan_training_batches(nodes, 2, 200)) == [120, 120] + [180] * 4


@ON_FORKSERVER
def test_levels_trained_together_give_the_models_and_scores_of_levels_trained_alone(tmp_path, tiny_sweep):
    """One worker: the test grid's two levels train as one ensemble; the tiny sweep (two workers) trained
    each level alone. Models, histories, latents and scores are identical, byte for byte."""
    project = copy_project(tmp_path)
    result = kedro_in_process(
        project, "run", "--pipeline", "sweep", "--env", "test", "--runner-params", "max_workers=1", *TO_RUN_TABLE
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    together, alone = data_files(project), data_files(tiny_sweep)
    compared = [
        path
        for path in alone
        if path.endswith(".pt")
        or "history_seed" in path
        or "latents_seed" in path
        or path.endswith("run_scores.parquet")
    ]
    assert len(compared) >= 14
    for path in compared:
        assert together[path] == alone[path], path


def test_the_rewrite_replaces_training_nodes_by_ensembles_with_their_inputs_and_outputs():
    from kedro.pipeline import Pipeline

    from ex_coverage.pipelines.reporting.pipeline import create_pipeline as reporting_pipeline

    grid = parse_grid({"coverages": [0, 0.001, 0.002, 0.01, 0.1], "seeds": [0, 1, 2]})
    pipeline = create_pipeline(grid) + reporting_pipeline(grid)
    resumed = pipeline - Pipeline([n for n in pipeline.nodes if n.name == "levels.coverage_0p001.train_seeds"])
    for original in (pipeline, resumed):  # all levels; a resumed run without one finished level
        rewritten = train_levels_together(original, workers=2, max_runs=64)
        training = [n for n in original.nodes if trains_together(n)]
        ensembles = [n for n in rewritten.nodes if n.name.startswith("train_together_")]
        assert len(ensembles) == 2 and not [n for n in rewritten.nodes if trains_together(n)]
        assert sorted(chain.from_iterable(n.outputs for n in ensembles)) == sorted(
            chain.from_iterable(n.outputs for n in training)
        )
        assert set().union(*(n.inputs for n in ensembles)) == set().union(*(n.inputs for n in training))
        assert set(rewritten.nodes) - set(ensembles) == set(original.nodes) - set(training)
        assert rewritten.inputs() == original.inputs() and rewritten.all_outputs() == original.all_outputs()
    only_one = resumed.only_nodes("levels.coverage_0.train_seeds")
    assert [n.name for n in train_levels_together(only_one, 2, 64).nodes] == ["train_together_1"]
