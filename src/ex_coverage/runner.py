"""Runners for the sweep.

- ``SweepRunner``: Kedro's ParallelRunner (one process per core) that also logs a line per finished
  coverage level with levels done / total and the estimated time left. This project's default for
  ``kedro run`` (see ``cli.py``).
- ``DaskRunner``: runs each node as a task on a Dask cluster (``dask.distributed``, the optional
  ``cluster`` extra), for sweeps bigger than one machine.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.io import MemoryDataset
from kedro.runner import AbstractRunner, ParallelRunner

from ex_coverage.progress import LevelProgress, is_training_node
from ex_coverage.science.errors import ConfigurationError, ExCoverageError


class NodeFailedError(ExCoverageError, RuntimeError):
    """A node failed on a remote worker; the message names the node, the worker and the error."""


log = logging.getLogger(__name__)


class SweepRunner(ParallelRunner):
    """ParallelRunner with per-level progress; ``max_workers`` defaults to the number of cores."""

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        self._progress = LevelProgress.for_nodes(n.name for n in pipeline.nodes)
        return super()._run(pipeline, catalog, hook_manager, run_id)

    # Kedro calls this in the main process after each node completes: the one place that sees them all.
    def _release_datasets(self, node: Any, catalog: Any, load_counts: Any, pipeline: Any) -> None:
        super()._release_datasets(node, catalog, load_counts, pipeline)
        self._progress.node_finished(node.name)


def _run_node_on_worker(
    node: Any, catalog: Any, is_async: bool, run_id: str | None, package: str, project: str | None, *upstream: Any
) -> str:
    """Run one node on a Dask worker: inputs are loaded from, and outputs saved to, the shared files.

    ``project`` is the shared project folder, or None when every dataset is on an object store.
    """
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
    from kedro.framework.project import configure_project, settings
    from kedro.runner.task import Task

    if project is not None:
        os.chdir(project)  # catalog paths are relative to the project folder, shared by every worker
    configure_project(package)
    hooks = _create_hook_manager()
    _register_hooks(hooks, settings.HOOKS)
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
        progress = LevelProgress.for_nodes(n.name for n in pipeline.nodes)
        log.info(
            "Dask cluster: %s (%d workers)",
            client.dashboard_link or client.scheduler.address,
            len(client.scheduler_info()["workers"]),
        )
        try:
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
                log.info("Completed node: %s (%d out of %d tasks)", name, done, len(futures))
                progress.node_finished(name)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
