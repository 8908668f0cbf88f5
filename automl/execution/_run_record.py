"""Where a run is recorded: its directory (Ray's state, ``run.json``, the MLflow journal) and its parent MLflow run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import DatasetInput, Param
from mlflow.tracking import MlflowClient

from automl._result import MANIFEST_FILE
from automl.tracking._artifacts import git_commit
from automl.tracking._credentials import check_store, is_local_store, public_uri
from automl.tracking._tracking import open_experiment
from automl.tracking._writer import PENDING_FILE, replay
from search_spaces import ConfigError, Space

__all__ = ["RunRecord"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunRecord:
    """A run's directory and its parent MLflow run, made by `create` or, for a resumed run, `reopen`."""

    run_dir: Path
    client: MlflowClient
    tracking_uri: str
    experiment_id: str
    parent_run_id: str

    @property
    def public_uri(self) -> str:
        """The tracking URI as printed and recorded: without a password."""
        return public_uri(self.tracking_uri)

    @property
    def journal(self) -> Path:
        """The MLflow writes not yet acknowledged by the store (`automl.tracking._writer`)."""
        return self.run_dir / PENDING_FILE

    @classmethod
    def create(
        cls,
        *,
        storage_path: Path,
        name: str,
        client: MlflowClient,
        tracking_uri: str,
        experiment_name: str,
        params: Mapping[str, str],
        space: Space,
        dataset: DatasetInput | None = None,
    ) -> RunRecord:
        """Makes the run's directory, ``storage_path / name``, and its parent MLflow run, with the run's settings as params.

        Raises:
            ConfigError: The directory exists already (a run of the same name).
        """
        run_dir = storage_path / name
        if run_dir.exists():
            raise ConfigError(
                f"{run_dir} already exists; resume it with automl.resume({str(run_dir)!r}) or pick another name.",
                field="name",
            )
        run_dir.mkdir(parents=True)
        experiment_id = open_experiment(client, experiment_name)
        tags = {"automl.kind": "tuning-run", "automl.run_dir": str(run_dir)}
        commit = git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
        parent_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        client.log_batch(parent_id, params=[Param(k, v) for k, v in params.items()])
        client.log_text(parent_id, space.to_yaml(), "space.yaml")
        if dataset is not None:  # file-backed data: the runs table's Dataset column
            client.log_inputs(parent_id, datasets=[dataset])
        return cls(
            run_dir=run_dir,
            client=client,
            tracking_uri=tracking_uri,
            experiment_id=experiment_id,
            parent_run_id=parent_id,
        )

    @classmethod
    def reopen(cls, run_dir: Path, manifest: Mapping[str, Any]) -> RunRecord:
        """The record of an interrupted run: its unsent MLflow writes sent first, its parent run RUNNING again."""
        tracking_uri = manifest["tracking_uri"]
        if not is_local_store(tracking_uri):  # down, or the credentials (from the environment) refused
            check_store(tracking_uri)
        journal = run_dir / PENDING_FILE
        if journal.exists():  # writes the interrupted driver had not sent yet
            replay(journal, tracking_uri)
        client = MlflowClient(tracking_uri)
        client.update_run(manifest["parent_run_id"], status="RUNNING")
        return cls(
            run_dir=run_dir,
            client=client,
            tracking_uri=tracking_uri,
            experiment_id=manifest["experiment_id"],
            parent_run_id=manifest["parent_run_id"],
        )

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Writes ``run.json``: what `automl.resume` needs to rebuild the run."""
        (self.run_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))

    def print_where(self, experiment_name: str) -> None:
        print(
            f"[automl] run directory {self.run_dir} | MLflow experiment {experiment_name!r} at {self.public_uri}",
            flush=True,
        )
