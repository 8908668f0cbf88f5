"""What `automl submit` does with data paths and the size of the working directory, before reaching a cluster."""

from __future__ import annotations

import json

import pytest

from automl.cli import main
from automl.execution._jobs import UPLOAD_LIMIT_BYTES, check_upload_size, outside_paths
from search_spaces import ConfigError


def test_paths_outside_the_working_directory_are_passed_through_as_they_are(tmp_path):
    job = tmp_path / "job"
    paths = {
        "image_directory": str(job / "data" / "pics"),  # travels with the working directory
        "validation_directory": str(tmp_path / "shared" / "val"),  # ../shared/val in the file
        "tfrecord": "gs://bucket/train-*.tfrecord",  # a URL: as is
        "function": f"{tmp_path / 'loaders.py'}:make_data",
    }
    assert outside_paths(job, paths) == [
        f"data.validation_directory={json.dumps(str(tmp_path / 'shared' / 'val'))}",
        f"data.function={json.dumps(str(tmp_path / 'loaders.py') + ':make_data')}",
    ]
    assert outside_paths(tmp_path / "jo", {"csv": str(job / "a.csv")}) == [f"data.csv={json.dumps(str(job / 'a.csv'))}"]


def test_a_working_directory_over_rays_upload_limit_is_refused_with_its_size(tmp_path):
    (tmp_path / "data").mkdir()
    with (tmp_path / "data" / "big.bin").open("wb") as f:  # sparse: no disk used
        f.truncate(UPLOAD_LIMIT_BYTES + 2**20)
    (tmp_path / "exp.yaml").write_text("data: {sklearn: digits}\nspace: {preset: mlp}\nnum_trials: 1\n")
    with pytest.raises(ConfigError, match=r"^working_dir: the job's working directory .* holds 513 MiB, more than the 512 MiB"):
        check_upload_size(tmp_path)
    # Refused before the address is even tried (nothing listens on port 9).
    assert main(["submit", str(tmp_path / "exp.yaml"), "--address", "http://127.0.0.1:9"]) == 2
    check_upload_size(tmp_path / "data" / ".." / "missing")  # nothing there: nothing to refuse
