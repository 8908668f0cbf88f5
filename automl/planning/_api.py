"""`automl.tune`: the public entry point of a tuning run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import optuna

from automl._result import TuningResult
from automl.planning._experiment import Experiment
from search_spaces import Space
from search_spaces._suggest import refuse_unknown_keywords
from trainers import StreamingData, TrainingData

__all__ = ["tune"]


# Long by its written-out signature and docstring, which users read (help(), inspect.signature).
@refuse_unknown_keywords("tune", "experiment")  # Optuna's n_trials gets num_trials, as in a file
def tune(
    space: Space | None = None,
    *,
    data: TrainingData | StreamingData | str | Callable[[dict[str, Any]], Any],
    metric: str | Sequence[str] = "val_accuracy",
    mode: Literal["min", "max"] | Sequence[Literal["min", "max"]] = "max",
    num_trials: int = 12,
    time_budget_s: float | None = None,
    epochs: int = 20,
    patience: int = 3,
    metrics: Sequence[str] = (),
    reduce_lr_patience: int | None = None,
    steps_per_execution: int | Literal["auto"] = "auto",
    jit_compile: bool | Literal["auto"] = "auto",
    mixed_precision: bool = False,
    sampler: str | Mapping[str, Any] | optuna.samplers.BaseSampler = "tpe",
    points_to_evaluate: Sequence[Mapping[str, Any]] = (),
    evaluated_points: Sequence[Mapping[str, Any]] = (),
    warm_start: str | Path | None = None,
    scheduler: str | Mapping[str, Any] | None = None,
    seed: int | None = None,
    resources_per_trial: Mapping[str, float] | None = None,
    max_concurrent_trials: int | None = None,
    max_failures: int = 0,
    max_trials_per_worker: int | None = None,
    max_worker_memory_growth: float | None = 0.1,
    address: str | None = None,
    tracking_uri: str | None = None,
    experiment_name: str = "automl",
    registered_model_name: str | None = None,
    storage_path: str | Path = "automl_runs",
    name: str | None = None,
    callbacks: Sequence[Any] = (),
    build: Callable[[dict[str, Any]], Any] | str | None = None,
    tensorboard: bool = False,
    log_tensorboard_to_mlflow: bool = False,
    hypermodel: Any = None,
    verbose: int = 1,
) -> TuningResult:
    """Tunes a Keras model over ``space``: Optuna samples, Ray Tune schedules, MLflow records.

    Every trial is a full Keras ``compile``/``fit`` with `EarlyStopping`
    (restoring the best weights) and `ModelCheckpoint`. Everything is checked
    before Ray starts; a failing trial is recorded and the others go on.

    Args:
        space: What to search (see `search_spaces.Space`, `search_spaces.mlp`);
            or leave it out and pass ``hypermodel``. Defaults to `None`.
        data: Training and validation data, or the name of a data set bundled
            with scikit-learn (``"digits"``, ``"wine"``, ...). Data in files
            (`trainers.image_directory`, `trainers.text_directory`,
            `trainers.tfrecords`, `trainers.table`, or a function ``config
            -> (train_ds, val_ds)`` of ``tf.data`` batches, called in each
            trial's worker with its config) is read inside the trials.
        metric: Metric to optimize; one the trainer reports for the task.
            A list optimizes several objectives (``["val_accuracy",
            "params"]``): the first drives early stopping and the best model,
            the sampler optimizes all, and the result holds the Pareto front.
            Defaults to `"val_accuracy"`.
        mode: ``"max"`` or ``"min"``, or one per metric. Defaults to `"max"`.
        num_trials: Number of trials. Defaults to `12`.
        time_budget_s: Wall-time budget of the whole run, in seconds: when it
            runs out, running trials are stopped (state ``STOPPED``) and no
            new ones start. Defaults to `None` (no limit).
        epochs: Most epochs per trial. Defaults to `20`.
        patience: Early-stopping patience, in epochs. Defaults to `3`.
        metrics: Metrics to report besides loss and accuracy (mae for
            regression); each can be a ``metric`` to optimize as
            ``val_<name>``: ``"auc"``, ``"pr_auc"``, ``"precision"``,
            ``"recall"`` (binary), ``"top_3_accuracy"`` (multiclass),
            ``"rmse"``, ``"mse"``, ``"mape"`` (regression). Defaults to `()`.
        reduce_lr_patience: Epochs without improvement of ``metric`` before
            the learning rate is halved (Keras's ``ReduceLROnPlateau``); the
            space must keep ``lr_schedule`` constant. Defaults to `None` (off).
        steps_per_execution: Batches per call into TensorFlow (Keras's
            ``compile`` argument): fewer Python round trips, the same
            results. ``"auto"`` runs one epoch's batches per call, at most
            32, or one at a time when one of ``callbacks`` overrides a
            batch-level hook (so it sees every batch) or a trial has several
            GPUs. Defaults to `"auto"`.
        jit_compile: XLA-compile the train step: ``True``, ``False`` or
            ``"auto"``. Defaults to `"auto"`.
        mixed_precision: Build each model under Keras's ``mixed_float16``
            policy (float16 compute, float32 weights and outputs, loss
            scaling); needs GPUs in ``resources_per_trial``. Defaults to `False`.
        sampler: An optuna sampler by name (``"tpe"``, ``"random"``,
            ``"cmaes"``, ``"qmc"``, ``"gp"``), or a mapping of the name and
            its main settings (``{"name": "tpe", "multivariate": True,
            "group": True}``), or an ``optuna.samplers.BaseSampler``.
            Defaults to `"tpe"`.
        points_to_evaluate: Configs (nested, as the space samples them) to
            run first, in order, before the sampler proposes its own; the
            sampler learns from their results. Defaults to `()`.
        evaluated_points: Configs whose score is already known,
            ``[{"config": {...}, "value": 0.93}, ...]``: the sampler learns
            from them without training them again (they use no trial of the
            budget). Defaults to `()`.
        warm_start: The directory of an earlier run of the same metric and
            mode: its finished trials that fit this space seed the sampler
            like ``evaluated_points``. Defaults to `None`.
        scheduler: A Ray Tune scheduler that stops poor trials early, by
            name (``"asha"``, ``"hyperband"``, ``"median"``, ``"pbt"``,
            ``"fifo"``) or as a mapping with settings (``{"name": "asha",
            "grace_period": 2, "reduction_factor": 3}``); time is counted in
            epochs. ``"pbt"`` (Population Based Training) trains the
            sampler's ``num_trials`` starting configs together and lets poor
            trials continue from good ones' checkpoints with a perturbed
            ``learning_rate`` and ``batch_size`` (settings
            ``perturbation_interval``, ``quantile_fraction``,
            ``resample_probability``, ``burn_in_period``, ``synch``,
            ``mutate``). Defaults to `"asha"` for one objective, `"fifo"`
            for several.
        seed: Seed of the sampler and of every trial's fit: a trial's
            initial weights, dropout and batch order follow from the seed
            and its config (`FitSettings.seed`), so a config trains the same
            way whenever it starts. With one trial at a time
            (``max_concurrent_trials=1``) and a trial count as the budget, a
            run repeats itself; with several at once, which trial reports
            first varies, and with it what the sampler and the scheduler
            see. Defaults to `None`.
        resources_per_trial: ``{"cpu": n, "gpu": g, "tpu": t, "memory": bytes}``
            per trial (fractions allowed). A trial no node can hold is refused
            once Ray is up, before any trial starts. ``memory`` is also
            enforced: a trial whose worker's resident memory goes past it
            (checked every 10 batches) fails with the figures in its error.
            Defaults to one CPU.
        max_concurrent_trials: Cap on trials running at once. Defaults to as
            many as the resources allow.
        max_failures: How often a failed trial (its worker died, a node went
            away, or its training raised) is restarted from its last
            checkpoint before it counts as FAILED; Ray's FailureConfig.
            Defaults to `0`.
        max_trials_per_worker: Trials a reused worker process runs before
            it is replaced by a fresh one (gunicorn's ``max_requests``).
            Defaults to `None` (no limit).
        max_worker_memory_growth: Replace a reused worker once its resident
            memory has grown by more than this fraction since its first
            trial: TensorFlow keeps some memory of every model a process
            trained. Defaults to `0.1` (10%); `None` for no limit.
        address: Ray cluster to join (``"auto"``, ``"ray://HOST:PORT"``).
            Defaults to starting a local Ray instance (or using the one this
            process already started).
        tracking_uri: MLflow tracking URI. Defaults to ``mlflow.db`` (sqlite)
            in the working directory.
        experiment_name: MLflow experiment. Defaults to `"automl"`.
        registered_model_name: Model Registry name under which the best
            model gets a new version. Defaults to ``experiment_name``.
        storage_path: Where run directories go. Defaults to `"automl_runs"`.
        name: Name of this run's directory and MLflow parent run. Defaults to
            ``<experiment_name>-<timestamp>``.
        callbacks: Keras callbacks added to every trial's ``fit`` (each trial
            gets a deep copy), or ``'file.py:function'`` references to
            functions of no arguments that return callbacks. Each trial runs
            in its directory of the run, so relative paths (``CSVLogger("epochs.csv")``)
            land there, and the files are attached to the trial's MLflow run.
            A ``keras.callbacks.TensorBoard(log_dir=X)`` writes each trial's
            logs into ``X/<trial name>`` (``trial-001``, as in MLflow).
            Defaults to `()`.
        build: Your own ``build(config) -> keras.Model``, for an architecture
            the space language cannot express (KerasTuner's ``build(hp)``).
            The space then holds its hyperparameters under any names, next to
            the training settings (``learning_rate``, ``optimizer``, ...); the
            model may come back uncompiled (compiled from the config) or
            compiled with your own loss and metrics. In a YAML file:
            ``build: models.py:build``. Each choice of the space is built once
            before Ray starts. Defaults to `None` (the model comes from the
            space's layer stacks).
        tensorboard: Each trial writes its epoch metrics and learning rate
            as TensorBoard event files into ``<run_dir>/trial_<id>/tensorboard``
            (``train`` and ``validation``, Keras's tags, the epoch as the
            step; no histograms); ``automl tensorboard RUN_DIR`` serves them
            with the trials named as in MLflow. Needs the ``tensorboard``
            package (``pip install 'keras-automl[tensorboard]'``). A
            ``keras.callbacks.TensorBoard(log_dir=X)`` among ``callbacks``
            writes into ``X/trial-001``, ... whether or not this is on.
            Defaults to `False`.
        log_tensorboard_to_mlflow: Also attach each trial's event files to
            its MLflow run, under ``tensorboard/``; needs ``tensorboard``.
            Defaults to `False`.
        hypermodel: KerasTuner code, run unchanged instead of ``space``: a
            function ``build_model(hp) -> keras.Model`` or a
            ``keras_tuner.HyperModel`` (instance or subclass; its ``fit(hp,
            model, *args, **kwargs)`` is called as KerasTuner calls it when
            overridden). Each trial's hyperparameters are sampled by Optuna as
            the function declares them (``hp.Int``, ``hp.Choice``, ...), and
            its config is ``hp.values``. In a YAML file:
            ``hypermodel: models.py:build_model``. See `search_spaces.HyperParameters`.
            Defaults to `None`.
        verbose: 0 silent; 1 the run's settings and where it is recorded,
            then one line per finished trial (and the counts of trials
            done and running after a minute with no line); 2 also the
            workers' logs.
            Defaults to `1`.

    Returns:
        A `TuningResult` with the best config and value, a DataFrame of trials
        and the best model's ``.keras`` path.

    Raises:
        ConfigError: Bad input, before any trial starts.
        AutoMLError: No trial produced a finite value of ``metric``.

    Examples:
        >>> import automl
        >>> from search_spaces import mlp
        >>> result = automl.tune(mlp(), data="digits", num_trials=3, epochs=2)
        >>> result.best_config["layers"][0]["type"]
        'dense'
    """
    # The defaults above are Experiment's (tests/automl/planning/test_api.py checks it): written
    # out so that inspect.signature(automl.tune) and an editor show them.
    experiment = Experiment(
        space=space,
        data=data,
        metric=metric,
        mode=mode,
        num_trials=num_trials,
        time_budget_s=time_budget_s,
        epochs=epochs,
        patience=patience,
        metrics=metrics,
        reduce_lr_patience=reduce_lr_patience,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
        mixed_precision=mixed_precision,
        sampler=sampler,
        points_to_evaluate=points_to_evaluate,
        evaluated_points=evaluated_points,
        warm_start=warm_start,
        scheduler=scheduler,
        seed=seed,
        resources_per_trial=resources_per_trial,
        max_concurrent_trials=max_concurrent_trials,
        max_failures=max_failures,
        max_trials_per_worker=max_trials_per_worker,
        max_worker_memory_growth=max_worker_memory_growth,
        address=address,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        registered_model_name=registered_model_name,
        storage_path=storage_path,
        name=name,
        callbacks=callbacks,
        build=build,
        tensorboard=tensorboard,
        log_tensorboard_to_mlflow=log_tensorboard_to_mlflow,
        hypermodel=hypermodel,
    )
    return experiment.run(verbose=verbose)
