"""Tracking: everything that writes to or reads from MLflow.

Here live the Ray Tune callback that records each trial as a nested MLflow run
(``_tracking``) and its parts (``_trials``, ``_records``, ``_trial_runs``,
``_reload``, ``_progress``, ``_ranking``), the journaled writer (``_writer``,
``_journal``, ``_ops``, ``_sender``) and its optional helper process
(``_mlflow_process``), the empty-store template, the best model and plots
logged at the end (``_artifacts``; the plots drawn by the child process of
``_plots``), and the compat module for MLflow's private names. These modules may import MLflow, ``search_spaces``, ``trainers`` and
``automl._result``; the two Tune callbacks (``_tracking``, ``_artifacts``)
also import Ray Tune's callback and trial types. None imports a planning or
execution module.
"""
