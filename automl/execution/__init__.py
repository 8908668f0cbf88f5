"""Execution: everything that runs a plan on Ray.

Here live the ``Run`` (new) and ``ResumedRun`` that drive a Ray Tune ``Tuner``
(``_runner``), with the Tuner's wiring (``_tuner``, ``_searcher``), the run's
directory and parent MLflow run (``_run_record``) and its end (``_run_end``); the
function each trial worker calls (``_trainable``) with its worker-side helpers
(scratch folders, heap, memory limit, model size, the shipped ``build``), worker
reuse (``_workers``), the filling HyperBand scheduler, job submission to a cluster
(``_jobs``), and the compat modules for Ray's and Optuna's private names. These
modules may import Ray, Optuna, ``trainers``, ``search_spaces``, ``automl._result``,
``automl._objectives`` and the tracking modules; never a planning module at module
level (the plan's parts are named for type checking only). What a trial worker
imports (``_trainable`` and its helpers) must not load MLflow, Optuna or the runner.
"""
