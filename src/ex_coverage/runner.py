"""Runners for the sweep.

- ``SweepRunner``: Kedro's ParallelRunner (one process per core) that trains the coverage levels
  together — the training nodes in one batch per worker, each batch one ensemble (see
  :func:`plan_training_batches`) — and logs a line per finished coverage level with levels done / total
  and the estimated time left. This project's default for ``kedro run`` (see ``cli.py``).
- ``DaskRunner``: runs each node as a task on a Dask cluster (``dask.distributed``, the optional
  ``cluster`` extra), for sweeps bigger than one machine.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import multiprocessing
import multiprocessing.forkserver
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from itertools import chain
from typing import Any

from kedro.io import MemoryDataset
from kedro.runner import AbstractRunner, ParallelRunner
from kedro.runner.task import Task

from ex_coverage.progress import LevelProgress, is_training_node
from ex_coverage.science.errors import ConfigurationError, ExCoverageError


class NodeFailedError(ExCoverageError, RuntimeError):
    """A node failed on a remote worker; the message names the node, the worker and the error."""


log = logging.getLogger(__name__)

#: Kedro's runners log per-node chatter to the runner's module logger; ours send it to Kedro's
#: (``conf/logging.yml`` keeps ``kedro`` at WARNING by default).
_KEDRO_RUNNER_LOG = logging.getLogger("kedro.runner")


#: What SweepRunner's workers need. Its workers fork from a forkserver that imports these once, while the
#: run starts up (:func:`start_worker_server`); spawned workers would each import torch and Lightning (~5 s).
WORKER_MODULES = (
    "ex_coverage.settings",
    "ex_coverage.pipeline_registry",
    "ex_coverage.pipelines.training.nodes",
    "ex_coverage.science.training",
    "lightning_fabric",  # imported by training on use
    "ex_coverage.science.evaluation",
    "ex_coverage.pipelines.reporting.nodes",
    "ex_coverage.pipelines.reporting.estimate_nodes",
    "kedro.runner",
)


def start_worker_server() -> None:
    """Start the forkserver SweepRunner's workers fork from; it imports :data:`WORKER_MODULES` in the
    background, so call this as early as possible."""
    multiprocessing.set_forkserver_preload(list(WORKER_MODULES))
    multiprocessing.forkserver.ensure_running()


def trains_together(node: Any) -> bool:
    """Whether ``node`` is a level's training node (:func:`~ex_coverage.pipelines.training.nodes.train_level`)."""
    from ex_coverage.pipelines.training.nodes import train_level

    return is_training_node(node.name) and getattr(node.func, "function", None) is train_level


def _runs(node: Any) -> int:
    return len(node.func.kwargs["seeds"])


def plan_training_batches(nodes: Iterable[Any], workers: int, max_runs: int) -> list[tuple[Any, ...]]:
    """The training nodes among ``nodes`` in batches, each to be trained as one ensemble by one worker.

    Training costs mostly per step, not per run, so fewer, larger ensembles are faster: one batch per
    worker (every core trains), more where a batch would exceed ``max_runs`` runs (a level larger than
    that is a batch of its own); runs are spread evenly, largest level first. Only nodes reading the same
    shared datasets share a batch. Deterministic.
    """
    groups: dict[tuple[str, ...], list[Any]] = {}
    for node in sorted((n for n in nodes if trains_together(n)), key=lambda n: n.name):
        shared = tuple(name for name in node.inputs if not name.startswith(f"{node.namespace}."))
        groups.setdefault(shared, []).append(node)
    batches: list[tuple[Any, ...]] = []
    for group in groups.values():
        count = min(len(group), max(workers, math.ceil(sum(map(_runs, group)) / max_runs)))
        while True:
            bins: list[list[Any]] = [[] for _ in range(count)]
            for node in sorted(group, key=_runs, reverse=True):
                min(bins, key=lambda b: sum(map(_runs, b))).append(node)
            if count == len(group) or all(len(b) == 1 or sum(map(_runs, b)) <= max_runs for b in bins):
                break
            count += 1
        batches += [tuple(sorted(b, key=lambda n: n.name)) for b in bins]
    return batches


def priorities(nodes: Sequence[Any], dependencies: dict[Any, set[Any]]) -> dict[Any, tuple[int, int]]:
    """For each node, ``(longest chain, descendants)``: the number of nodes on the longest chain from it to
    the end of the run (itself included), then how many nodes depend on it, directly or not.

    Ready nodes go to the workers highest first, so that what finishes the run (scores → run table →
    estimate → report) does not queue behind dozens of independent figures.
    """
    dependents: dict[Any, list[Any]] = {node: [] for node in nodes}
    for node in nodes:
        for parent in dependencies[node]:
            dependents[parent].append(node)
    length: dict[Any, int] = {}
    below: dict[Any, set[Any]] = {}
    for node in reversed(nodes):  # Kedro sorts pipeline.nodes topologically
        length[node] = 1 + max((length[child] for child in dependents[node]), default=0)
        below[node] = set(dependents[node]).union(*(below[child] for child in dependents[node]))
    return {node: (length[node], len(below[node])) for node in nodes}


def train_nodes_together(nodes: Sequence[Any], inputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run training nodes (each with its loaded ``inputs``) as one ensemble; returns each node's outputs by
    dataset name, exactly as running the node alone would give them."""
    from ex_coverage.pipelines.training.nodes import train_level, train_levels

    signature = inspect.signature(train_level)
    calls = [
        signature.bind(*(node_inputs[name] for name in node.inputs), **node.func.kwargs).arguments
        for node, node_inputs in zip(nodes, inputs)
    ]
    shared = {k: v for k, v in calls[0].items() if k not in ("label_multiplier", "seeds")}
    results = train_levels(**shared, levels=[(call["label_multiplier"], call["seeds"]) for call in calls])
    # The training template names each output dataset after its key (``model_seed_3`` → ``<level>.model_seed_3``).
    return [{name: result[name.rsplit(".", 1)[-1]] for name in node.outputs} for node, result in zip(nodes, results)]


@functools.cache
def _worker_hooks() -> Any:
    """This worker's hook manager, made (and the project and logging configured) on its first task only:
    Kedro's ``Task`` does it for every node, ~20 ms each."""
    from kedro.framework.project import LOGGING, PACKAGE_NAME

    return Task._run_node_synchronization(package_name=PACKAGE_NAME, logging_config=LOGGING)


class WorkerTask(Task):
    """Kedro's ``Task`` for one node on a SweepRunner worker, with the worker's hook manager."""

    def execute(self) -> Any:
        self.hook_manager, self.parallel = _worker_hooks(), False  # set up already: Task skips its set-up
        return super().execute()


class TrainingBatch:
    """Several training nodes as one task on a ParallelRunner worker: one ensemble, with the dataset and node
    hooks Kedro's ``Task`` (Kedro 1.7) gives each node. Returns the nodes."""

    def __init__(self, nodes: Sequence[Any], catalog: Any, run_id: str | None) -> None:
        self.nodes = list(nodes)
        self.catalog = catalog
        self.run_id = run_id

    def __call__(self) -> list[Any]:
        hooks = _worker_hooks()
        context = {"catalog": self.catalog, "is_async": False, "run_id": self.run_id}
        inputs = []
        for node in self.nodes:
            loaded = {}
            for name in node.inputs:
                hooks.hook.before_dataset_loaded(dataset_name=name, node=node)
                loaded[name] = self.catalog.load(name)
                hooks.hook.after_dataset_loaded(dataset_name=name, data=loaded[name], node=node)
            loaded.update(Task._collect_inputs_from_hook(node, self.catalog, loaded, False, hooks, run_id=self.run_id))
            inputs.append(loaded)
        try:
            outputs = train_nodes_together(self.nodes, inputs)
        except Exception as error:
            for node, node_inputs in zip(self.nodes, inputs):
                hooks.hook.on_node_error(error=error, node=node, inputs=node_inputs, **context)
            raise
        for node, node_inputs, node_outputs in zip(self.nodes, inputs, outputs):
            hooks.hook.after_node_run(node=node, inputs=node_inputs, outputs=node_outputs, **context)
            for name, data in node_outputs.items():
                hooks.hook.before_dataset_saved(dataset_name=name, data=data, node=node)
                self.catalog.save(name, data)
                hooks.hook.after_dataset_saved(dataset_name=name, data=data, node=node)
            for name in node.confirms:
                self.catalog.confirm(name)
        return self.nodes


class SweepRunner(ParallelRunner):
    """ParallelRunner (one process per core) that trains coverage levels together and shows per-level progress.

    The training nodes go in batches (:func:`plan_training_batches`, at most ``max_runs_per_batch`` runs
    each), a batch to a worker as one ensemble: the same models, bit for bit, as training each level
    alone (SequentialRunner, DaskRunner), in a fraction of the time. ``max_workers`` defaults to the
    number of cores.
    """

    def __init__(self, max_workers: int | None = None, is_async: bool = False, max_runs_per_batch: int = 64) -> None:
        super().__init__(max_workers=max_workers, is_async=is_async)
        self._max_runs_per_batch = int(max_runs_per_batch)

    @property
    def _logger(self) -> logging.Logger:
        return _KEDRO_RUNNER_LOG

    def _get_executor(self, max_workers: int) -> Executor:
        start_worker_server()  # a no-op when the CLI has started it already
        return ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context("forkserver"))

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        with LevelProgress.for_nodes(pipeline.nodes) as self._progress:
            self._run_batched(pipeline, catalog, run_id)

    def _run_batched(self, pipeline: Any, catalog: Any, run_id: str | None) -> None:
        """Kedro 1.7's ``AbstractRunner._run`` loop for a process pool, except that each batch of training
        nodes is submitted as one task once all of its nodes are ready, and ready nodes are submitted
        highest :func:`priorities` first."""
        nodes = pipeline.nodes
        if not nodes:  # nothing to do: no pool, no wait for its workers
            return
        self._validate_catalog(catalog)
        self._validate_nodes(nodes)
        self._set_manager_datasets(catalog)
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        dependencies = pipeline.node_dependencies
        workers = self._get_required_workers_count(pipeline)
        batch_of = {
            node: batch
            for batch in plan_training_batches(nodes, workers, self._max_runs_per_batch)
            if len(batch) > 1
            for node in batch
        }
        priority = priorities(nodes, dependencies)
        todo, done_nodes, futures = set(dependencies), set(), set()
        finished_nodes: list[Any] = []
        with self._get_executor(workers) as executor:
            while True:
                # Only as many tasks as workers are in flight: a node that becomes ready later but lies on a
                # longer chain overtakes those still waiting (the pool itself would run them first come, first served).
                for task, task_nodes in self._ready_tasks(
                    todo, done_nodes, dependencies, priority, batch_of, catalog, run_id
                ):
                    if len(futures) >= workers:
                        break
                    futures.add(executor.submit(task))
                    todo -= set(task_nodes)
                for node in finished_nodes:  # after submitting: Kedro's release takes ~15 ms a node
                    self._release_datasets(node, catalog, load_counts, pipeline)
                if not futures:
                    if todo:
                        self._raise_runtime_error(todo, done_nodes, set(), None)
                    break
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                finished_nodes = self._finish(finished, done_nodes, pipeline, catalog)

    def _finish(self, finished: set[Any], done_nodes: set[Any], pipeline: Any, catalog: Any) -> list[Any]:
        """The nodes of finished tasks, recorded as done (raising a task's error, with Kedro's advice on resuming)."""
        nodes = []
        for future in finished:
            try:
                result = future.result()
            except Exception:
                self._suggest_resume_scenario(pipeline, done_nodes, catalog)
                raise
            for node in result if isinstance(result, list) else [result]:
                done_nodes.add(node)
                nodes.append(node)
                self._logger.info("Completed node: %s", node.name)
                self._logger.info("Completed %d out of %d tasks", len(done_nodes), len(pipeline.nodes))
        return nodes

    def _ready_tasks(
        self,
        todo: set[Any],
        done: set[Any],
        dependencies: dict[Any, set[Any]],
        priority: dict[Any, tuple[int, int]],
        batch_of: dict[Any, tuple[Any, ...]],
        catalog: Any,
        run_id: str | None,
    ) -> Iterator[tuple[Any, Sequence[Any]]]:
        """The tasks that can start now, highest priority first, each with its nodes: a node's, or a training
        batch's once all of its nodes are ready."""
        seen: set[Any] = set()
        for node in sorted(todo, key=lambda n: (-priority[n][0], -priority[n][1], n.name)):
            if node in seen or not dependencies[node] <= done:
                continue
            batch = batch_of.get(node)
            if batch is None:
                yield WorkerTask(node=node, catalog=catalog, is_async=self._is_async, run_id=run_id), [node]
            elif all(dependencies[n] <= done for n in batch):
                seen.update(batch)
                yield TrainingBatch(batch, catalog, run_id), batch

    # Called in the main process after each node completes: the one place that sees them all.
    def _release_datasets(self, node: Any, catalog: Any, load_counts: Any, pipeline: Any) -> None:
        super()._release_datasets(node, catalog, load_counts, pipeline)
        self._progress.node_finished(node.name)


@functools.cache
def _dask_worker_hooks(package: str) -> Any:
    """This Dask worker's hook manager for ``package``, made (and the project configured) on its first task only,
    as :func:`_worker_hooks` is on a SweepRunner worker: ~40 ms a task otherwise."""
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
    from kedro.framework.project import configure_project, settings

    configure_project(package)
    hooks = _create_hook_manager()
    _register_hooks(hooks, settings.HOOKS)
    return hooks


def _run_node_on_worker(
    node: Any, catalog: Any, is_async: bool, run_id: str | None, package: str, project: str | None, *upstream: Any
) -> str:
    """Run one node on a Dask worker: inputs are loaded from, and outputs saved to, the shared files.

    ``project`` is the shared project folder, or None when every dataset is on an object store.
    """
    if project is not None:
        os.chdir(project)  # catalog paths are relative to the project folder, shared by every worker
    hooks = _dask_worker_hooks(package)
    try:
        Task(node=node, catalog=catalog, hook_manager=hooks, is_async=is_async, run_id=run_id).execute()
    except Exception as error:
        from distributed import get_worker

        raise NodeFailedError(
            f"node {node.name!r} failed on Dask worker {get_worker().address}: {type(error).__name__}: {error}"
        ) from error
    return node.name


def _security(ca_file: str | None, cert: str | None, key: str | None) -> Any:
    """A ``distributed.security.Security`` requiring TLS from the three PEM files (also used as the
    scheduler's and workers' own certificate by a local cluster); None when none is given."""
    given = {"tls_ca_file": ca_file, "tls_client_cert": cert, "tls_client_key": key}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ConfigurationError(
            f"DaskRunner TLS needs tls_ca_file, tls_client_cert and tls_client_key; missing: {', '.join(missing)}"
        )
    for name, value in given.items():
        if "-----BEGIN" not in value and not os.path.isfile(value):
            raise ConfigurationError(f"DaskRunner runner param {name}={value}: no such file")
    from distributed.security import Security

    roles = {
        f"tls_{role}_{part}": given[f"tls_client_{part}"]
        for role in ("scheduler", "worker")
        for part in ("cert", "key")
    }
    return Security(**given, **roles, require_encryption=True)


class DaskRunner(AbstractRunner):
    """Run every node as a Dask task, in dependency order, on an existing or a local cluster.

    ``kedro run --runner ex_coverage.runner.DaskRunner --runner-params address=tcp://HOST:8786``, or
    ``--runner-params n_workers=4`` to start a ``LocalCluster`` (one thread per worker). Every dataset a
    node passes on must be file-backed in the catalog, and the project folder must be at the same path
    on every worker (shared storage) unless every dataset is on an object store (``s3://`` …).
    ``training_gpus=1`` asks for a worker resource ``GPU=1`` for each
    training node (start such workers with ``--resources GPU=1``).

    TLS: ``tls_ca_file``, ``tls_client_cert`` and ``tls_client_key`` (paths to PEM files, as for
    ``distributed.security.Security``) — or ``security``, a ready ``Security`` object — make the client
    authenticate to the scheduler with a certificate signed by the cluster's CA and encrypt all traffic;
    a ``LocalCluster`` the runner starts then uses them too (``tls://``), so nothing else can connect.
    ``security=temporary`` gives a local cluster throw-away credentials (``Security.temporary()``).
    """

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        training_gpus: int = 0,
        is_async: bool = False,
        tls_ca_file: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
        security: Any = None,
    ) -> None:
        super().__init__(is_async=is_async)
        self._address = address
        self._n_workers = int(n_workers) if n_workers is not None else None
        self._threads_per_worker = int(threads_per_worker)
        self._training_gpus = int(training_gpus)
        if security == "temporary":  # from --runner-params: a local cluster with throw-away certificates
            from distributed.security import Security

            security = Security.temporary()
        self._security = security or _security(tls_ca_file, tls_client_cert, tls_client_key)

    @property
    def _logger(self) -> logging.Logger:
        return _KEDRO_RUNNER_LOG

    def _get_executor(self, max_workers: int) -> None:
        return None

    def _client(self) -> tuple[Any, Any]:
        from distributed import Client, LocalCluster

        secure = {"security": self._security} if self._security is not None else {}
        if self._address:
            return Client(self._address, **secure), None
        cluster = LocalCluster(
            n_workers=self._n_workers or os.cpu_count(),
            threads_per_worker=self._threads_per_worker,
            processes=True,
            dashboard_address=None,
            **({**secure, "protocol": "tls://"} if secure else {}),
        )
        return Client(cluster, **secure), cluster

    @staticmethod
    def _check_file_backed(pipeline: Any, catalog: Any) -> None:
        passed_on = {d for n in pipeline.nodes for d in n.outputs} & {d for n in pipeline.nodes for d in n.inputs}
        in_memory = sorted(
            d for d in passed_on if isinstance(catalog.get(d, fallback_to_runtime_pattern=True), MemoryDataset)
        )
        if in_memory:
            raise NodeFailedError(
                f"DaskRunner needs every intermediate dataset in the catalog as a file; in memory: {', '.join(in_memory)}"
            )

    @staticmethod
    def _shared_folder(pipeline: Any, catalog: Any) -> str | None:
        """This folder when a dataset of the pipeline is a local file (workers must see it), else None."""
        local = [
            d
            for d in pipeline.datasets()
            if getattr(catalog.get(d, fallback_to_runtime_pattern=True), "_protocol", None) == "file"
        ]
        return os.getcwd() if local else None

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        from distributed import as_completed
        from kedro.framework.project import PACKAGE_NAME

        self._check_file_backed(pipeline, catalog)
        project = self._shared_folder(pipeline, catalog)
        client, cluster = self._client()
        progress = LevelProgress.for_nodes(pipeline.nodes)
        log.info(
            "Dask cluster: %s (%d workers)",
            client.dashboard_link or client.scheduler.address,
            len(client.scheduler_info()["workers"]),
        )
        try:
            progress.start()
            parents = pipeline.node_dependencies
            futures: dict[Any, Any] = {}
            for node in pipeline.nodes:  # topologically sorted: parents are submitted first
                resources = (
                    {"GPU": self._training_gpus} if self._training_gpus and is_training_node(node.name) else None
                )
                futures[node] = client.submit(
                    _run_node_on_worker, node, catalog, self._is_async, run_id, PACKAGE_NAME, project,
                    *(futures[p] for p in parents[node]), key=f"{node.name}-{run_id or os.getpid()}", pure=False, resources=resources,
                )  # fmt: skip
            for done, future in enumerate(as_completed(futures.values()), start=1):
                name = future.result()
                log.debug("Completed node: %s (%d out of %d tasks)", name, done, len(futures))
                progress.node_finished(name)
        finally:
            progress.close()
            client.close()
            if cluster is not None:
                cluster.close()
