"""File-backed data as an MLflow dataset input: what the runs table's Dataset column shows."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING

import numpy as np
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from trainers import StreamingData, TrainingData

if TYPE_CHECKING:
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.types import Schema

__all__ = ["dataset_input"]


def _schema(data: StreamingData) -> Schema:
    """The inputs and the target: a table's columns by name, else the sample's tensor."""
    from mlflow.types import ColSpec, Schema, TensorSpec

    target = "double" if data.task == "regression" else "long"
    if data.columns is not None:
        columns: list[ColSpec | TensorSpec] = [
            ColSpec("string" if c.categorical else "double", c.name) for c in data.columns
        ]
        return Schema([*columns, ColSpec(target, "target")])
    if data.tokens is not None:  # texts, as the model takes them
        return Schema([ColSpec("string", "text"), ColSpec(target, "target")])
    y = np.dtype(np.float32 if data.task == "regression" else np.int64)
    return Schema(
        [TensorSpec(np.dtype(np.float32), (-1, *data.input_shape), "x"), TensorSpec(y, (-1,), "target")]
    )


def dataset_input(data: TrainingData | StreamingData) -> DatasetInput | None:
    """``data`` as an MLflow training input: name, source, digest, schema and size; `None` for arrays."""
    if not isinstance(data, StreamingData) or data.lineage is None:
        return None
    # Imported here: mlflow.data loads its dataset flavours, which arrays never need.
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    lineage = data.lineage
    source: DatasetSource
    if data.source.batched:  # a loader function: its code is the source
        source = CodeDatasetSource({"function": lineage.source})
    else:
        with warnings.catch_warnings():  # MLflow's two local-file resolvers name the same class
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(lineage.source)
    # mypy reads MetaDataset's `profile` as abstract; MLflow documents constructing it, and it runs.
    meta = MetaDataset(source, name=data.name, digest=lineage.digest, schema=_schema(data))  # type: ignore[abstract]
    described = meta.to_dict()
    profile = {
        "files": lineage.files,
        "size_bytes": lineage.size_bytes,
        "train_rows": data.train_rows,
        "val_rows": data.val_rows,
        "num_classes": data.num_classes if data.task != "regression" else None,
    }
    dataset = Dataset(
        name=described["name"],
        digest=described["digest"],
        source_type=described["source_type"],
        source=described["source"],
        schema=described.get("schema"),
        profile=json.dumps({k: v for k, v in profile.items() if v is not None}),
    )
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, "training")])
