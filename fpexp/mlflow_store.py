"""The MLflow side of an export: connecting (``mlflow`` imported here, lazily), finding a run
by its ``fpexp.key`` tag and logging only what it lacks.

A run is logged as: created with its key tag (so an export stopped half-way finds it again),
its params, metrics and tags (those it has are not logged again), its artifacts (those it has
with the same size are not uploaded again), its status and end time, and last the
``fpexp.complete`` tag. A run with that tag is never touched again: exporting it twice changes
nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.mlflow_map import COMPLETE_TAG, KEY_TAG, STATE_TAG

INSTALL = "pip install 'fpexp[mlflow]'"
URI_FORMS = "sqlite:///PATH.db, http(s)://HOST:PORT or a database URL such as postgresql://..."


class ServerFailure(Exception):
    """The tracking server could not be reached or failed: one line, exit status 1."""


@dataclass
class Logged:
    """What an MLflow run should hold: ``tags`` include ``fpexp.key``."""

    name: str
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    start_ms: int | None = None
    end_ms: int | None = None
    status: str = "FINISHED"


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise UsageError([Problem("mlflow", "not installed", INSTALL)]) from None
    return mlflow


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def shown_uri(text: str) -> str:
    """``text`` with the password of every URI in it hidden (``http://alice:***@host``)."""
    return re.sub(r"(?<=://)([^/@\s:]*):[^/@\s]*@", r"\1:***@", text)


def _probe(uri: str) -> None:
    """A server that answers at all (any HTTP status) is reached; else ``ServerFailure``.
    Credentials in the URI go as HTTP basic auth, not as part of the host name."""
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    request = urllib.request.Request(urllib.parse.urlunsplit(bare).rstrip("/") + "/health")
    if parts.username is not None:
        token = (
            f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        )
        request.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        where = shown_uri(uri)
        raise ServerFailure(f"--tracking-uri: {where} cannot be reached ({reason})") from None


def _sql_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's errors (a SQL store's, e.g. two first uses of a new file at once)."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return ()
    return (SQLAlchemyError,)


class Store:
    """One experiment of one tracking store."""

    def __init__(self, uri: str, experiment: str) -> None:
        mlflow = _mlflow()
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.errors: tuple[type[Exception], ...] = (MlflowException, OSError, *_sql_errors())
        if not experiment.strip() or len(experiment) > 500:
            what = f"{experiment[:40]!r} is not an experiment name"
            raise UsageError([Problem("--experiment", what, "1 to 500 characters")])
        if uri.startswith(("http://", "https://")):
            _probe(uri)
        where = shown_uri(uri)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.client._tracking_client.store  # noqa: B018  (resolves the URI's scheme)
        except MlflowException as err:
            raise UsageError([Problem("--tracking-uri", _first_line(err), URI_FORMS)]) from None
        except ImportError as err:  # a database URI whose driver is not installed
            what = f"{where} needs the Python package {err.name or 'of its driver'}"
            allowed = "install it, or " + URI_FORMS
            raise UsageError([Problem("--tracking-uri", what, allowed)]) from None
        except OSError as err:  # a sqlite file in a folder that cannot be made
            what = f"{where}: {err.strerror or err}"
            raise UsageError([Problem("--tracking-uri", what, URI_FORMS)]) from None
        self.mlflow = mlflow
        self.experiment_id = self._experiment(experiment)

    def _experiment(self, name: str) -> str:
        found = self.call(self.client.get_experiment_by_name, name)
        if found is not None and found.lifecycle_stage == "deleted":
            what = f"{name!r} was deleted in this store"
            raise UsageError([Problem("--experiment", what, "restore it, or another name")])
        if found is not None:
            return str(found.experiment_id)
        return str(self.call(self.client.create_experiment, name))

    def call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """An MLflow call; a failure of the store as ``ServerFailure`` (one line)."""
        try:
            return method(*args, **kwargs)
        except self.errors as err:
            raise ServerFailure(f"mlflow: {shown_uri(_first_line(err))}") from None

    def find(self, key: str) -> Any:
        """The MLflow run tagged with ``key``, or None (the oldest if several)."""
        from mlflow.entities import ViewType

        found = self.call(
            self.client.search_runs,
            [self.experiment_id],
            filter_string=f"tags.`{KEY_TAG}` = '{key}'",
            run_view_type=ViewType.ALL,  # a deleted run is not made again
            order_by=["attributes.start_time ASC"],
        )
        return found[0] if found else None

    def open(self, want: Logged, parent: str | None = None) -> tuple[str, Any]:
        """The id and data of the MLflow run for ``want``: found by its key, else created
        with that key (and its parent); its data is None when it is complete."""
        run = self.find(want.tags[KEY_TAG])
        if run is not None:
            same = run.data.tags.get(STATE_TAG) == want.tags.get(STATE_TAG)  # None for a run
            whole = run.data.tags.get(COMPLETE_TAG) == "true" and same
            return run.info.run_id, None if whole else run.data
        first = {KEY_TAG: want.tags[KEY_TAG], "mlflow.runName": want.name}
        if parent is not None:
            first["mlflow.parentRunId"] = parent
        made = self.call(
            self.client.create_run, self.experiment_id, start_time=want.start_ms, tags=first
        )
        return made.info.run_id, made.data

    def sync(self, want: Logged, parent: str | None = None) -> tuple[str, bool]:
        """The MLflow run for ``want`` (its id), made whole; True if anything was logged."""
        run_id, have = self.open(want, parent)
        if have is None:
            return run_id, False
        redone = have.tags.get(STATE_TAG) != want.tags.get(STATE_TAG)  # a sweep changed since
        self._log_missing(run_id, have, want)
        self._upload_missing(run_id, want.artifacts, every=redone)
        self.call(self.client.set_terminated, run_id, want.status, want.end_ms)
        self.call(self.client.set_tag, run_id, COMPLETE_TAG, "true")  # last: the run is whole
        return run_id, True

    def _log_missing(self, run_id: str, have: Any, want: Logged) -> None:
        from mlflow.entities import Metric, Param, RunTag

        when = want.end_ms or want.start_ms or 0
        params = [Param(k, v) for k, v in want.params.items() if k not in have.params]
        tags = [RunTag(k, v) for k, v in want.tags.items() if have.tags.get(k) != v]
        metrics = [Metric(k, v, when, 0) for k, v in want.metrics.items() if k not in have.metrics]
        while params or tags or metrics:  # as few batches as MLflow's limits allow
            some_params, some_tags = params[:100], tags[:100]
            some_metrics = metrics[: 1000 - len(some_params) - len(some_tags)]
            params, tags, metrics = params[100:], tags[100:], metrics[len(some_metrics) :]
            self.call(
                self.client.log_batch,
                run_id,
                metrics=some_metrics,
                params=some_params,
                tags=some_tags,
            )

    def _upload_missing(self, run_id: str, files: list[Path], every: bool = False) -> None:
        if not files:
            return
        listed = self.call(self.client.list_artifacts, run_id)
        sizes = {f.path: f.file_size for f in listed}
        for path in files:
            if every or sizes.get(path.name) != os.stat(path).st_size:
                self.call(self.client.log_artifact, run_id, str(path))
