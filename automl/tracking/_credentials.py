"""A tracking store's credentials: kept out of what is printed or recorded, and checked before a run starts.

A password may come inside the tracking URI (``http://user:password@host``,
``postgresql://user:password@host/db``) or, as MLflow's documentation has it,
from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``) for a server and ``PGPASSWORD`` or ``~/.pgpass`` for
PostgreSQL. The full URI stays in memory; what is printed, logged or written
(``run.json``, ``result.json``, Ray's state, messages) is `public_uri`'s form.
"""

from __future__ import annotations

import socket
import urllib.parse

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from search_spaces import ConfigError

__all__ = ["check_store", "hide_password", "is_local_store", "is_tracking_server", "public_uri"]

REACH_TIMEOUT_S = 5.0
_SERVER_SCHEMES = ("http", "https")


def public_uri(uri: str) -> str:
    """``uri`` without the password of its user part (the user name is kept)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urllib.parse.urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


def hide_password(text: str, uri: str) -> str:
    """``text`` (an error message, say) with the password of ``uri`` replaced by ``***``."""
    password = urllib.parse.urlsplit(uri).password
    if not password:
        return text
    # Messages may quote the URI as given or with its user part percent-decoded.
    for form in {password, urllib.parse.unquote(password)}:
        text = text.replace(form, "***")
    return text


def is_local_store(uri: str) -> bool:
    """Whether ``uri`` is a file or sqlite store on this machine (nothing to reach, no credentials)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    return scheme in ("", "file", "sqlite") or len(scheme) == 1  # a Windows drive letter


def is_tracking_server(uri: str) -> bool:
    """Whether ``uri`` is an MLflow tracking server (reached over HTTP)."""
    return urllib.parse.urlsplit(uri).scheme in _SERVER_SCHEMES


def check_store(uri: str) -> MlflowClient:
    """A client of the store at ``uri``, after one request shows it answers and takes the credentials.

    MLflow itself retries a refused connection for minutes (a server) or an
    hour (a database): here the run fails at once, before Ray starts.

    Raises:
        ConfigError: The store is unreachable or refuses the credentials;
            the message names the URI without its password.
    """
    if is_tracking_server(uri):
        _reach(uri)
        client = MlflowClient(uri)
        _first_request(client, uri)
        return client
    _connect_database(uri)
    return MlflowClient(uri)


def _reach(uri: str) -> None:
    parts = urllib.parse.urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the MLflow tracking server at {public_uri(uri)} ({exc}); start it or fix the URI.",
            field="tracking_uri",
        ) from exc


def _first_request(client: MlflowClient, uri: str) -> None:
    try:
        client.search_experiments(max_results=1)
    except MlflowException as exc:
        status = exc.get_http_status_code()
        text = str(exc)
        if status == 401 or "401" in text.split("Response body", 1)[0]:
            raise ConfigError(
                f"the MLflow tracking server at {public_uri(uri)} refused the credentials "
                f"(HTTP 401); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                "(or MLFLOW_TRACKING_TOKEN) to an account of that server.",
                field="tracking_uri",
            ) from None
        if status == 403 or "403" in text.split("Response body", 1)[0]:
            raise ConfigError(
                f"the MLflow tracking server at {public_uri(uri)} does not let this account "
                "read experiments (HTTP 403); ask its admin for a permission.",
                field="tracking_uri",
            ) from None
        raise ConfigError(
            f"the MLflow tracking server at {public_uri(uri)} answered an error: "
            f"{hide_password(text.splitlines()[0], uri)}",
            field="tracking_uri",
        ) from None


def _connect_database(uri: str) -> None:
    """Opens one connection to a database store (SQLAlchemy URI), once, within a few seconds."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool, **_timeout(uri))
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
        raise ConfigError(
            f"cannot open {public_uri(uri)}: its database driver is missing ({exc}); "
            "for PostgreSQL install keras-automl[postgres].",
            field="tracking_uri",
        ) from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = hide_password(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], uri)
        raise ConfigError(
            f"cannot open the tracking database {public_uri(uri)}: {reason}",
            field="tracking_uri",
        ) from None
    finally:
        engine.dispose()


def _timeout(uri: str) -> dict[str, object]:
    # libpq's connect_timeout: a host that drops packets fails in seconds, not minutes.
    if urllib.parse.urlsplit(uri).scheme.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": int(REACH_TIMEOUT_S)}}
    return {}
