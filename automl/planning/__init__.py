"""Planning a run: what ``tune()``, ``resume()`` and an experiment file ask for, checked once and made into a plan.

Here live the public entry points (``_api.tune``, ``_experiment.Experiment``,
``_resume.resume``, ``_retrain.retrain``) and the parts of a plan: sampler and
scheduler choices, objectives, warm-start points, a user's ``build(config)``.
Every setting is validated here, before Ray starts. These modules may import
``search_spaces``, ``trainers``, Optuna, ``automl._result``, and the execution
and tracking modules that carry a plan out; none imports Ray at module level
(only inside the functions that start or use it).
"""
