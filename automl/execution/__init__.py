"""Execution: everything that runs a plan on Ray.

Here live the ``Run`` that drives a Ray Tune ``Tuner`` (``_runner``), the
function each trial worker calls (``_trainable``) with its worker-side helpers
(scratch folders, heap, memory limit, model size), worker reuse (``_workers``),
the filling HyperBand scheduler, job submission to a cluster (``_jobs``), and the
compat modules for Ray's and Optuna's private names. These modules may import
Ray, Optuna, ``trainers``, ``search_spaces``, ``automl._result``, the tracking
modules, and the parts of a plan the runner carries out (planning's choices,
objectives, build and warm-start points). What a trial worker imports
(``_trainable`` and its helpers) must not load MLflow, Optuna or the runner.
"""
