"""Distribution strategies: one replica per device, the model built, fitted and resumed in the strategy's scope."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tensorflow as tf

from trainers import distribution_strategy, enable_memory_growth

ROOT = Path(__file__).resolve().parents[2]

# Two logical CPUs stand in for two GPUs: MirroredStrategy treats them alike. They
# must be made before TF's runtime starts, hence a fresh process.
MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from trainers import FitSettings, distribution_strategy, load_sklearn, train

    strategy = distribution_strategy(devices=["/cpu:0", "/cpu:1"])
    data = load_sklearn("digits")
    config = {"layers": [{"type": "dense", "units": 32}], "batch_size": 64}
    first = train(config, data, settings=FitSettings(epochs=2, monitor="val_accuracy", mode="max", patience=5),
                  checkpoint_dir=sys.argv[1], strategy=strategy)
    variables = first.model.trainable_variables[0]
    resumed = train(config, data, settings=FitSettings(epochs=4, monitor="val_accuracy", mode="max", patience=5),
                    checkpoint_dir=sys.argv[2], resume_from=sys.argv[1], strategy=strategy)
    print(json.dumps({
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "mirrored": type(variables.value).__name__,
        "epochs": [len(first.history["loss"]), len(resumed.history["loss"])],
        "val_accuracy": resumed.history["val_accuracy"],
    }))
    """
)


def test_several_devices_get_a_mirrored_model_that_fits_and_resumes(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "a"), str(tmp_path / "b")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["strategy"] == "MirroredStrategy" and report["replicas"] == 2
    assert report["mirrored"] == "MirroredVariable"  # one copy of each weight per replica
    assert report["epochs"] == [2, 4]  # the resumed fit went on from epoch 2
    assert report["val_accuracy"][-1] > 0.5  # it learns (chance is 0.1)


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="for machines without a GPU")
def test_without_gpus_the_default_strategy_runs_and_no_memory_setting_applies():
    assert distribution_strategy() is tf.distribute.get_strategy()
    assert enable_memory_growth() == []
