"""``python -m automl``: the ``automl`` command."""

from automl.cli import main

raise SystemExit(main())
