"""Runners for the sweep.

- ``SweepRunner``: Kedro's ParallelRunner (one process per core) that trains the coverage levels together —
  the pipeline it is handed gets ensemble nodes in place of the levels' training nodes
  (:mod:`ex_coverage.ensembles`) — and shows the sweep's progress (:mod:`ex_coverage.progress`). This
  project's default for ``kedro run`` (see ``cli.py``).
- ``DaskRunner``: runs each node as a task on a Dask cluster (``dask.distributed``, the optional ``cluster``
  extra), for sweeps bigger than one machine; its workers train the levels together too.

Both use Kedro's runner extension points only: ``_run`` (rewrite the pipeline, then run it) and ``_get_executor``.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.forkserver
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from kedro.io import MemoryDataset
from kedro.io.core import get_protocol_and_path
from kedro.runner import AbstractRunner, ParallelRunner, Task

from ex_coverage.datasets import dataset_filepath
from ex_coverage.ensembles import train_levels_together
from ex_coverage.progress import SweepProgress, connect, listen, report_steps, runs_of
from ex_coverage.science.errors import ConfigurationError, ExCoverageError


class NodeFailedError(ExCoverageError, RuntimeError):
    """A node failed on a remote worker; the message names the node, the worker and the error."""


#: This module's own messages (Kedro's runners log their per-node chatter to the runner's module logger,
#: ``ex_coverage.runner``, which ``conf/logging.yml`` keeps at WARNING).
log = logging.getLogger("ex_coverage.cluster")


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


#: What a local Dask cluster's workers need besides :data:`WORKER_MODULES` (they fork from the same forkserver).
DASK_WORKER_MODULES = ("distributed", "ex_coverage.runner")

#: Dask configuration for the ``LocalCluster`` DaskRunner starts: its workers fork from the forkserver
#: (:func:`start_worker_server`), which has imported torch, Lightning, the project and Dask, instead of each
#: spawned worker importing them on its first task; the stack profiler, whose samples only a dashboard shows (the
#: cluster has none), is off.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.worker.profile.enabled": False,
}


def start_worker_server(extra_modules: tuple[str, ...] = ()) -> None:
    """Start the forkserver SweepRunner's workers (and a local Dask cluster's) fork from; it imports
    :data:`WORKER_MODULES` and ``extra_modules`` in the background, so call this as early as possible. A no-op
    once it runs (the modules it imports are those of the first call)."""
    multiprocessing.set_forkserver_preload([*WORKER_MODULES, *extra_modules])
    multiprocessing.forkserver.ensure_running()


class ProgressPool(ProcessPoolExecutor):
    """A process pool whose workers report training steps to ``progress`` (:func:`ex_coverage.progress.connect`)
    and whose finished tasks (Kedro's ``Task`` returns its node) are counted by it, in the main process."""

    def __init__(self, max_workers: int, progress: SweepProgress) -> None:
        context = multiprocessing.get_context("forkserver")
        self.progress = progress
        self.channel = context.Queue()
        self.listener = listen(self.channel, progress)
        super().__init__(max_workers=max_workers, mp_context=context, initializer=connect, initargs=(self.channel,))

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._count)
        return future

    def _count(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is None:
            self.progress.node_finished(future.result())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        self.channel.put(None)
        self.listener.join()

    def __exit__(self, error_type: Any, error: Any, traceback: Any) -> bool:
        # A run that fails or is interrupted (Ctrl-C) starts nothing more: tasks still queued are cancelled.
        self.shutdown(wait=True, cancel_futures=error_type is not None)
        return False


class SweepRunner(ParallelRunner):
    """Kedro's ParallelRunner (one process per core) that trains coverage levels together and shows progress.

    The pipeline it is handed — already filtered by Kedro (``--only-missing-outputs``) — has its levels' training
    nodes replaced by ensemble nodes (:func:`~ex_coverage.ensembles.train_levels_together`, at most
    ``max_runs_per_batch`` runs each, one per worker), then runs with ParallelRunner's own scheduling: the same
    models, bit for bit, as training each level alone (SequentialRunner), in a fraction of the time. Workers fork
    from a forkserver that has imported torch, Lightning and the project (:func:`start_worker_server`).
    ``max_workers`` defaults to the number of cores.
    """

    def __init__(self, max_workers: int | None = None, is_async: bool = False, max_runs_per_batch: int = 64) -> None:
        super().__init__(max_workers=max_workers, is_async=is_async)
        self.workers = int(max_workers) if max_workers else os.cpu_count() or 1
        self.max_runs_per_batch = int(max_runs_per_batch)
        self.progress: SweepProgress | None = None

    def _get_executor(self, max_workers: int) -> Executor:
        start_worker_server()  # a no-op when the CLI has started it already
        return ProgressPool(max_workers, self.progress or SweepProgress([]))

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        if not pipeline.nodes:  # nothing to do: no pool, no wait for its workers
            return
        pipeline = train_levels_together(pipeline, self.workers, self.max_runs_per_batch, on_steps=report_steps)
        with SweepProgress(pipeline.nodes, self.workers) as self.progress:
            super()._run(pipeline, catalog, hook_manager, run_id)


@functools.cache
def _dask_worker_hooks(package: str) -> Any:
    """This Dask worker's hook manager, with the project's hooks (``settings.HOOKS``), made (and the project
    configured) on its first task only. Kedro's public hook specifications and markers, on pluggy."""
    from kedro.framework.hooks import specs
    from kedro.framework.hooks.markers import HOOK_NAMESPACE
    from kedro.framework.project import configure_project, settings
    from pluggy import PluginManager

    configure_project(package)
    hooks = PluginManager(HOOK_NAMESPACE)
    for spec in (
        specs.NodeSpecs,
        specs.PipelineSpecs,
        specs.DataCatalogSpecs,
        specs.DatasetSpecs,
        specs.KedroContextSpecs,
    ):
        hooks.add_hookspecs(spec)
    for project_hooks in settings.HOOKS:
        hooks.register(project_hooks)
    return hooks


def _run_node_on_worker(
    node: Any, catalog: Any, is_async: bool, run_id: str | None, package: str, project: str | None, *upstream: Any
) -> Any:
    """Run one node on a Dask worker: inputs are loaded from, and outputs saved to, the shared files.

    ``project`` is the shared project folder, or None when every dataset is on an object store.
    """
    if project is not None:
        os.chdir(project)  # catalog paths are relative to the project folder, shared by every worker
    hooks = _dask_worker_hooks(package)
    try:
        return Task(node=node, catalog=catalog, is_async=is_async, hook_manager=hooks, run_id=run_id).execute()
    except Exception as error:
        from distributed import get_worker

        raise NodeFailedError(
            f"node {node.name!r} failed on Dask worker {get_worker().address}: {type(error).__name__}: {error}"
        ) from error


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
    ``--runner-params n_workers=4`` to start a ``LocalCluster`` (one thread per worker, forked from the forkserver
    SweepRunner's workers fork from, see :data:`LOCAL_CLUSTER_CONFIG`). Every dataset a
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
        max_runs_per_batch: int = 64,
        tls_ca_file: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
        security: Any = None,
    ) -> None:
        super().__init__(is_async=is_async)
        self.loads_async = is_async
        self._address = address
        self._n_workers = int(n_workers) if n_workers is not None else None
        self._threads_per_worker = int(threads_per_worker)
        self._training_gpus = int(training_gpus)
        self._max_runs_per_batch = int(max_runs_per_batch)
        if security == "temporary":  # from --runner-params: a local cluster with throw-away certificates
            from distributed.security import Security

            security = Security.temporary()
        self._security = security or _security(tls_ca_file, tls_client_cert, tls_client_key)
        if not address:  # workers of a local cluster fork from the forkserver: let it import while Kedro starts up
            start_worker_server(DASK_WORKER_MODULES)

    def _get_executor(self, max_workers: int) -> None:
        return None

    def _client(self) -> tuple[Any, Any]:
        import dask
        from distributed import Client, LocalCluster

        secure = {"security": self._security} if self._security is not None else {}
        if self._address:
            return Client(self._address, **secure), None
        start_worker_server(DASK_WORKER_MODULES)  # a no-op when this runner or the CLI has started it
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
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
        filepaths = (dataset_filepath(catalog, d) for d in pipeline.datasets())
        local = [path for path in filepaths if path and get_protocol_and_path(path)[0] == "file"]
        return os.getcwd() if local else None

    def _graph(
        self, pipeline: Any, catalog: Any, run_id: str | None, package: str, project: str | None, addresses: list[str]
    ) -> list[Any]:
        """One Dask task per node (``dask.delayed``), each depending on its parents' tasks, in the order of
        ``pipeline.nodes``; annotated (``dask.annotate``) so that training starts first and in parallel.

        - Priority 1 for the ensembles and the nodes they need, 0 for the rest: the longest tasks start as soon as
          they can, not behind plots a worker happens to hold.
        - Each ensemble goes to its own worker (``workers=`` in turn, ``allow_other_workers``): else the scheduler
          may queue a second ensemble behind the first on the worker holding their inputs while another is busy
          for a second, doubling the training time. Not with ``training_gpus`` (the GPU resource places them).
        """
        import dask

        parents = pipeline.node_dependencies
        ensembles = [node for node in pipeline.nodes if runs_of(node)]
        needed = set(ensembles)
        for node in reversed(pipeline.nodes):  # children before parents
            if node in needed:
                needed |= parents[node]
        tasks: dict[Any, Any] = {}
        for node in pipeline.nodes:  # topologically sorted: parents come first
            hints: dict[str, Any] = {"priority": int(node in needed)}
            if node in ensembles and self._training_gpus:
                hints["resources"] = {"GPU": self._training_gpus}
            elif node in ensembles and addresses:
                hints["workers"] = [addresses[ensembles.index(node) % len(addresses)]]
                hints["allow_other_workers"] = True
            with dask.annotate(**hints):
                tasks[node] = dask.delayed(_run_node_on_worker, pure=False)(
                    node, catalog, self.loads_async, run_id, package, project, *(tasks[p] for p in parents[node]),
                    dask_key_name=f"{node.name}-{run_id or os.getpid()}",
                )  # fmt: skip
        return [tasks[node] for node in pipeline.nodes]

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        from distributed import as_completed
        from kedro.framework.project import PACKAGE_NAME

        self._check_file_backed(pipeline, catalog)
        project = self._shared_folder(pipeline, catalog)
        client, cluster = self._client()
        addresses = sorted(client.scheduler_info()["workers"])
        workers = len(addresses)
        log.info("Dask cluster: %s (%d workers)", client.dashboard_link or client.scheduler.address, workers)
        pipeline = train_levels_together(pipeline, max(1, workers), self._max_runs_per_batch)
        try:
            with SweepProgress(pipeline.nodes, max(1, workers)) as progress:
                graph = self._graph(pipeline, catalog, run_id, PACKAGE_NAME, project, addresses)
                futures = client.compute(graph, optimize_graph=False)  # one graph: one message to the scheduler
                for future in as_completed(futures):
                    progress.node_finished(future.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
