"""New sqlite tracking stores start as a copy of an empty one, built once per schema revision.

MLflow builds a new sqlite store by creating its tables and running every
schema migration since MLflow 1.x: about 1 s of CPU at each run's start in a
fresh directory. The schema depends only on MLflow's version, so automl builds
it once into a template in its cache directory, one file per schema revision,
and copies that file. The template holds the tables and the schema's revision,
no rows: MLflow adds the ``Default`` experiment, whose artifact location
depends on where the store is, when it first opens the copy.

The cache directory is ``$AUTOML_CACHE_DIR``, else ``$XDG_CACHE_HOME/automl``,
else ``~/.cache/automl``. The template is only an optimization: when it cannot
be built, read or copied, MLflow builds the store as it would without it. An
MLflow outside the tested range, without the private helpers the template
needs (automl/tracking/_mlflow_compat.py), fails loudly instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cache_dir", "copy_empty_store", "machine_lock"]

_log = logging.getLogger(__name__)


@contextlib.contextmanager
def machine_lock(key: str) -> Iterator[None]:
    """An exclusive lock shared by every process of this user on this machine (none on Windows).

    The lock is a file in the temp directory, removed by its holder before it
    lets go. A process that was waiting on the removed file then finds the
    path gone or holding another file, and waits for that one instead.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"automl-{os.getuid()}-{digest}.lock"
    while True:
        handle = open(path, "a")  # noqa: SIM115 - closed below, or when the lock ends
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break  # the file at the path is the one locked
        except FileNotFoundError:
            pass
        handle.close()  # its holder removed it meanwhile
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before letting go: no one can lock it afterwards unseen
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def cache_dir() -> Path:
    """Where automl keeps files it can rebuild (see the module's docstring)."""
    if os.environ.get("AUTOML_CACHE_DIR"):
        return Path(os.environ["AUTOML_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl"


def copy_empty_store(path: Path) -> bool:
    """Writes the empty store's template to ``path``, if ``path`` does not exist yet.

    Call it holding the machine lock of ``path``. Returns whether ``path`` is now
    a copy; if not, nothing was written there and MLflow builds the store.
    """
    if path.exists() or not path.parent.is_dir():  # a missing directory: MLflow's own error
        return False
    template = _template()
    if template is None:
        return False
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(template, partial)
        os.replace(partial, path)  # readers of ``path`` never see half a file
    except OSError as exc:
        _log.debug("could not copy the empty store %s to %s: %s", template, path, exc)
        partial.unlink(missing_ok=True)
        return False
    return True


def _template() -> Path | None:
    """The template at MLflow's current schema revision, built if missing or unreadable."""
    # Outside the `try`: an MLflow without the helpers used fails loudly (IncompatibleVersionError).
    # Imported here, where a sqlite store is made: it loads MLflow's database layer.
    from automl.tracking._mlflow_compat import latest_schema_revision

    try:
        revision = latest_schema_revision()
        template = cache_dir() / f"mlflow-schema-{revision}.db"
        if _revision(template) == revision:
            return template
        template.parent.mkdir(parents=True, exist_ok=True)
        with machine_lock(str(template)):
            if _revision(template) != revision:  # not built by another process meanwhile
                _build(template)
        if _revision(template) == revision:
            return template
        _log.debug("the empty store %s was built at another schema revision than %s", template, revision)
    except Exception as exc:  # noqa: BLE001 - any failure: MLflow builds the store itself
        _log.debug("could not build the empty store in %s: %s", cache_dir(), exc)
    return None


def _revision(store: Path) -> str | None:
    """The schema revision a sqlite store records, or `None` if it is missing or unreadable."""
    if not store.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return rows[0][0] if len(rows) == 1 else None


def _build(template: Path) -> None:
    import sqlalchemy

    from automl.tracking._mlflow_compat import create_tables

    partial = template.with_name(f".{template.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{partial}")
    try:
        try:
            create_tables(engine)  # the tables, then every migration to the current revision
        finally:
            engine.dispose()  # its connections close the file before it moves
        os.replace(partial, template)
    finally:
        partial.unlink(missing_ok=True)  # what a failed build left
