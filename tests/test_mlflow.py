"""``fpexp export mlflow`` and ``fpexp.export_mlflow``: real runs and a sweep with a failed job
exported into a real MLflow store (SQLite, one per module: MLflow's first import and the
store's tables take seconds), read back with MLflow's own client."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import call_fpexp

import fpexp
from fpexp.catalog import shown
from fpexp.cli import main
from fpexp.mlflow_map import PARAM_LIMIT, cut, millis, params, run_key

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# MLflow is imported by the first test that needs it, not at collection: its import costs
# ~1.6 s of CPU, and pytest -n 2 collects every module on both workers.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="the mlflow extra is not installed"
)


def client_class() -> type[MlflowClient]:
    from mlflow.tracking import MlflowClient

    return MlflowClient


CONFIG_KEYS = 24  # the default config's dotted keys (task 4, model 12, data 1, top 6, output 1)
BINARY_METRICS = {"n", "accuracy", "bce", "tp", "fp", "tn", "fn"}
STATS = {"outputs.mean/mammal", "outputs.std/mammal", "predicted.n/not_mammal"}
STATS |= {"predicted.n/mammal"}
FILES = ["layers.csv", "model.txt", "outputs.csv", "predictions.csv", "run.json"]
FILES = sorted([*FILES, "weights.safetensors"])
_names = count()


@dataclass(frozen=True)
class World:
    cwd: Path
    uri: str
    one: fpexp.Run  # seed=1 model.hidden=[8]
    sweep: fpexp.Sweep  # model.hidden=[2],[0] seed=5: job 1 fails


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new SQLite tracking store, made once by MLflow (its schema migrations: ~2 s of CPU);
    the module's store and the server's are copies of it."""
    path = tmp_path_factory.mktemp("empty-store") / "mlruns.db"
    assert client_class()(tracking_uri=f"sqlite:///{path}").search_experiments() != []
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> World:
    cwd = tmp_path_factory.mktemp("mlflow")
    shutil.copyfile(empty_store, cwd / "mlruns.db")
    root = cwd / "outputs"
    one = fpexp.run("seed=1", "model.hidden=[8]", root=root)
    sweep = fpexp.sweep("model.hidden=[2],[0]", "seed=5", root=root)
    return World(cwd, f"sqlite:///{cwd / 'mlruns.db'}", one, sweep)


def experiment(world: World) -> tuple[MlflowClient, str, str]:
    """A new experiment of the module's store (artifacts in its folder): client, name, id."""
    client = client_class()(tracking_uri=world.uri)
    name = f"e{next(_names)}"
    exp_id = client.create_experiment(name, artifact_location=str(world.cwd / "art" / name))
    return client, name, exp_id


def export(world: World, name: str, *args: str, capsys: Any = None) -> tuple[int, str, str]:
    code = main(["export", "mlflow", *args, "--tracking-uri", world.uri, "--experiment", name])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def by_dir(client: MlflowClient, exp_id: str) -> dict[str, Any]:
    runs = client.search_runs([exp_id], run_view_type=3)
    return {r.data.tags.get("fpexp.run_dir", r.data.tags.get("fpexp.sweep_dir")): r for r in runs}


def state(client: MlflowClient, exp_id: str) -> list[Any]:
    """All an experiment holds, without its ids: per run its tags (a parent as its directory),
    params, metric histories, status, times and artifacts (name, size)."""
    runs = by_dir(client, exp_id)
    ids = {r.info.run_id: d for d, r in runs.items()}
    out = []
    for where, r in sorted(runs.items()):
        tags = {
            k: v
            for k, v in r.data.tags.items()
            if not k.startswith("mlflow.") or k == "mlflow.runName"
        }
        tags["parent"] = ids.get(r.data.tags.get("mlflow.parentRunId", ""), "")
        history = {k: len(client.get_metric_history(r.info.run_id, k)) for k in r.data.metrics}
        files = sorted((f.path, f.file_size) for f in client.list_artifacts(r.info.run_id))
        info = (r.info.status, r.info.start_time, r.info.end_time)
        out.append((where, tags, r.data.params, r.data.metrics, history, info, files))
    return out


def test_a_run_is_its_config_metrics_statistics_tags_times_and_files(world, capsys):
    client, name, exp_id = experiment(world)
    code, out, _ = export(world, name, str(world.one.dir), capsys=capsys)
    (run,) = client.search_runs([exp_id])
    assert code == 0
    rel = shown(world.one.dir)
    assert out == f"exported: {rel} (completed, mlflow run {run.info.run_id})\n"
    record = json.loads((world.one.dir / "run.json").read_text())
    assert run.data.params == params(record) and len(run.data.params) == CONFIG_KEYS
    assert run.data.params["model.hidden"] == "[8]" and run.data.params["seed"] == "1"
    assert run.data.params["model.weights"] == "null"
    assert set(run.data.metrics) == BINARY_METRICS | STATS
    assert run.data.metrics["accuracy"] == record["metrics"]["accuracy"]
    mean = record["results"]["output_mean"]["mammal"]
    assert run.data.metrics["outputs.mean/mammal"] == mean
    tags = run.data.tags
    assert tags["fpexp.status"] == "completed" and tags["fpexp.task"] == "binary"
    assert tags["fpexp.run_dir"] == str(world.one.dir) and tags["fpexp.complete"] == "true"
    assert tags["fpexp.key"] == run_key(record, str(world.one.dir))
    assert tags["fpexp.input.sha256"] == record["input"]["sha256"]
    saved = record["outputs"]["weights.safetensors"]["sha256"]
    assert tags["fpexp.weights.saved.sha256"] == saved
    assert tags["fpexp.version.torch"] == record["environment"]["packages"]["torch"]
    git = record["environment"]["git"]
    assert tags.get("fpexp.git.commit") == (git or {}).get("commit")
    assert tags["mlflow.runName"] == world.one.dir.name
    assert run.info.status == "FINISHED"
    assert run.info.start_time == millis(record["started_at"])
    assert run.info.end_time == millis(record["ended_at"])
    files = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id)}
    assert sorted(files) == FILES
    assert files["outputs.csv"] == record["outputs"]["outputs.csv"]["bytes"]
    local = client.download_artifacts(run.info.run_id, "weights.safetensors", str(world.cwd))
    assert Path(local).read_bytes() == (world.one.dir / "weights.safetensors").read_bytes()


def test_a_sweep_is_a_parent_run_with_a_child_per_job_a_failed_one_failed(world, capsys):
    client, name, exp_id = experiment(world)
    code, out, _ = export(world, name, str(world.sweep.dir), capsys=capsys)
    runs = by_dir(client, exp_id)
    parent = runs[str(world.sweep.dir)]
    job0, job1 = (runs[str(world.sweep.dir / n)] for n in "01")
    assert code == 0 and len(runs) == 3
    assert out.splitlines()[1].startswith(f"exported: {shown(world.sweep.dir)}/1 (failed,")
    assert out.splitlines()[-1] == f"exported: sweep {shown(world.sweep.dir)}"
    assert parent.info.status == "FAILED" and parent.data.tags["fpexp.jobs"] == "2"
    assert (job0.info.status, job1.info.status) == ("FINISHED", "FAILED")
    for job in (job0, job1):
        assert job.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "width 0 is not positive" in job1.data.tags["fpexp.error"]
    assert [f.path for f in client.list_artifacts(job1.info.run_id)] == ["run.json"]
    files = sorted(f.path for f in client.list_artifacts(parent.info.run_id))
    assert files == ["multirun.yaml", "summary.csv", "summary.md", "sweep.json"]
    assert parent.info.start_time == job0.info.start_time
    assert parent.info.end_time == max(job0.info.end_time, job1.info.end_time)


def test_exporting_again_changes_nothing(world, capsys):
    client, name, exp_id = experiment(world)
    export(world, name, str(world.one.dir), str(world.sweep.dir))
    before = state(client, exp_id)
    capsys.readouterr()
    code, out, _ = export(world, name, str(world.one.dir), str(world.sweep.dir), capsys=capsys)
    assert code == 0 and state(client, exp_id) == before
    assert [line.split(":")[0] for line in out.splitlines()] == ["unchanged"] * 4
    assert all(set(h.values()) == {1} for *_, h, _, _ in before if h)


class Stop(Exception):
    """The export's process dies here."""


@pytest.mark.parametrize("method", ["create_run", "log_batch", "log_artifact", "set_terminated"])
@pytest.mark.parametrize("nth", [1, 3])
def test_an_export_stopped_half_way_then_repeated_is_a_whole_export(
    world, monkeypatch, method, nth
):
    whole_client, whole, whole_id = experiment(world)
    export(world, whole, str(world.one.dir), str(world.sweep.dir))
    client, name, exp_id = experiment(world)
    real = getattr(client_class(), method)
    calls = count(1)

    def stopping(self, *args, **kwargs):
        if next(calls) == nth:
            raise Stop
        return real(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(client_class(), method, stopping)
        with pytest.raises(Stop):
            export(world, name, str(world.one.dir), str(world.sweep.dir))
    assert export(world, name, str(world.one.dir), str(world.sweep.dir))[0] == 0
    assert state(client, exp_id) == state(whole_client, whole_id)


def test_outputs_over_the_size_limit_are_left_out_and_named(world, capsys):
    client, name, exp_id = experiment(world)
    export(world, name, str(world.one.dir), "--max-artifact-mb", "0.0002")  # 209 bytes
    (run,) = client.search_runs([exp_id])
    record = json.loads((world.one.dir / "run.json").read_text())
    big = sorted(n for n, m in record["outputs"].items() if m["bytes"] > 209)
    files = sorted(f.path for f in client.list_artifacts(run.info.run_id))
    assert files == sorted(set(FILES) - set(big)) and big
    left = [f"{n} ({record['outputs'][n]['bytes']} bytes)" for n in record["outputs"] if n in big]
    assert run.data.tags["fpexp.artifacts.left_out"] == ", ".join(left)


def test_where_picks_runs_of_sweeps_and_single_runs(world, capsys):
    client, name, exp_id = experiment(world)
    code, _out, _ = export(
        world, name, "--root", str(world.cwd / "outputs"), "--where", "seed=5", capsys=capsys
    )
    runs = by_dir(client, exp_id)
    assert code == 0 and sorted(runs) == sorted(
        str(p) for p in (world.sweep.dir, *world.sweep.dir.glob("[01]"))
    )


def test_a_long_value_is_cut_with_a_marker_never_dropped():
    long = "x" * (PARAM_LIMIT + 5)
    marker = "…[cut: 6005 characters in all]"
    assert cut(long, PARAM_LIMIT) == "x" * (PARAM_LIMIT - len(marker)) + marker
    assert len(cut(long, PARAM_LIMIT)) == PARAM_LIMIT
    found = params({"config": {"data": {"path": long}, "seed": 1}})
    assert found["data.path"].endswith("…[cut: 6007 characters in all]") and found["seed"] == "1"


def test_metrics_that_are_not_finite_numbers_are_skipped_and_said():
    from fpexp.mlflow_map import mapped

    record = {"metrics": {"a": 1, "b": None, "c": True, "d": {"e": 2.5}}}
    record["results"] = {"output_mean": {"x[y]": 0.5}}
    m = mapped(record, "/r", "interrupted")
    assert m.metrics == {"a": 1.0, "d.e": 2.5, "outputs.mean/x_y_": 0.5}
    assert m.skipped == ["metric b: null is not a number", "metric c: true is not a number"]
    assert m.status == "KILLED" and m.start_ms is None


def test_bad_uri_and_unreachable_server_are_one_line(world, capsys):
    code = main(["export", "mlflow", str(world.one.dir), "--tracking-uri", "foo://x"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("fpexp: error: --tracking-uri: ") and err.count("\n") == 1
    port = _free_port()
    code = main(
        ["export", "mlflow", str(world.one.dir), "--tracking-uri", f"http://127.0.0.1:{port}"]
    )
    _, err = capsys.readouterr()
    start = f"fpexp: error: --tracking-uri: http://127.0.0.1:{port} cannot be reached ("
    assert code == 1 and err.startswith(start) and err.count("\n") == 1


def test_without_the_extra_one_line_says_how_to_install_it(world, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    code = main(["export", "mlflow", str(world.one.dir), "--tracking-uri", world.uri])
    _, err = capsys.readouterr()
    assert (
        code == 2 and err == "fpexp: error: mlflow: not installed (pip install 'fpexp[mlflow]')\n"
    )


def test_the_api_exports_as_the_cli(world):
    client, name, exp_id = experiment(world)
    lines = fpexp.export_mlflow(world.one, world.sweep, tracking_uri=world.uri, experiment=name)
    assert [line.split(":")[0] for line in lines] == ["exported"] * 4
    assert len(client.search_runs([exp_id])) == 4
    with pytest.raises(fpexp.UsageError, match="no such run"):
        fpexp.export_mlflow("nowhere", tracking_uri=world.uri, experiment=name)


def test_live_export_as_each_run_ends_is_what_an_export_after_gives(world, monkeypatch, tmp_path):
    from fpexp.mlflow_live import EXPERIMENT_VARIABLE, URI_VARIABLE

    client, name, exp_id = experiment(world)
    monkeypatch.setenv(URI_VARIABLE, world.uri)
    monkeypatch.setenv(EXPERIMENT_VARIABLE, name)
    one = fpexp.run("seed=3", root=tmp_path)
    sweep = fpexp.sweep("model.hidden=[2],[0]", "seed=4", root=tmp_path)
    monkeypatch.delenv(URI_VARIABLE)
    after_client, after, after_id = experiment(world)
    export(world, after, str(one.dir), str(sweep.dir))
    live = by_dir(client, exp_id)
    assert live[str(sweep.dir)].data.tags["fpexp.complete"] == "true" and len(live) == 4
    assert state(client, exp_id) == state(after_client, after_id)


def test_without_the_variable_a_run_exports_nothing(world, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # an import would fail
    fpexp.run("seed=3", root=tmp_path)
    assert "mlflow" not in capsys.readouterr().out


def test_a_live_export_that_fails_is_a_warning_and_the_run_stands(monkeypatch, tmp_path, capsys):
    from fpexp.mlflow_live import URI_VARIABLE

    port = _free_port()
    monkeypatch.setenv(URI_VARIABLE, f"http://127.0.0.1:{port}")
    run = fpexp.run("seed=3", root=tmp_path)
    err = capsys.readouterr().err.splitlines()
    start = f"fpexp: warning: mlflow: --tracking-uri: http://127.0.0.1:{port} cannot be reached ("
    assert run.status == "completed" and next(line for line in err if "mlflow" in line).startswith(
        start
    )
    assert err[-1].endswith(
        f"(not tried again in this call; fpexp export mlflow {run.dir} exports it later)"
    )


# Found by a hostile review of the export (each of these, one line or a cleaned name now).
def test_a_live_sweep_waits_on_a_failed_store_once_not_per_job(monkeypatch, tmp_path, capsys):
    from fpexp.mlflow_live import URI_VARIABLE

    monkeypatch.setenv(URI_VARIABLE, f"http://127.0.0.1:{_free_port()}")
    made = fpexp.sweep("seed=1,2,3", root=tmp_path)
    assert [r.status for r in made.runs] == ["completed"] * 3
    warned = [line for line in capsys.readouterr().err.splitlines() if "mlflow" in line]
    assert len(warned) == 2  # the first job's, then the sweep's end: not one per job


def test_names_a_record_makes_look_like_paths_are_cleaned(world, tmp_path, capsys):
    import shutil

    copy = Path(shutil.copytree(world.one.dir, tmp_path / "odd"))
    record = json.loads((copy / "run.json").read_text())
    record["environment"]["packages"]["../../x"] = "1"
    record["metrics"]["/abs"] = 1.0
    record["metrics"]["big"] = 10**400  # an integer beyond floats: skipped, named
    (copy / "run.json").write_text(json.dumps(record))
    client, name, exp_id = experiment(world)
    code, out, _ = export(world, name, str(copy), capsys=capsys)
    assert code == 0 and out.startswith("exported: "), out
    (run,) = client.search_runs([exp_id])
    assert run.data.tags["fpexp.version.../__/x"] == "1" and run.data.metrics["_/abs"] == 1.0
    assert "metric big:" in run.data.tags["fpexp.metrics.skipped"]


@pytest.mark.parametrize(
    ("uri", "experiment_name", "line"),
    [
        (
            "http://alice:s3cr3t@127.0.0.1:{port}",
            "e",
            "--tracking-uri: http://alice:***@127.0.0.1:{port} cannot be reached",
        ),
        ("postgresql://bob:pw@127.0.0.1:1/db", "e", "needs the Python package"),
        ("sqlite:////proc/no/such/x.db", "e", "--tracking-uri: sqlite:////proc/no/such/x.db"),
        ("sqlite:///{tmp}/m.db", "", "--experiment: '' is not an experiment name"),
        ("sqlite:///{tmp}/m.db", "x" * 501, "is not an experiment name (1 to 500 characters)"),
    ],
)
def test_bad_uris_and_names_are_one_line_and_hide_passwords(
    world, tmp_path, uri, experiment_name, line
):
    port = _free_port()
    uri, line = uri.format(port=port, tmp=tmp_path), line.format(port=port)
    done = call_fpexp(
        [
            "export",
            "mlflow",
            str(world.one.dir),
            "--tracking-uri",
            uri,
            "--experiment",
            experiment_name,
        ],
        tmp_path,
    )
    assert done.returncode in (1, 2) and len(done.stderr.splitlines()) == 1, done.stderr
    assert line in done.stderr and "s3cr3t" not in done.stderr and "pw@" not in done.stderr


def test_a_linked_job_directory_is_not_exported_under_this_sweep(world, tmp_path, capsys):
    import shutil

    a = Path(shutil.copytree(world.sweep.dir, tmp_path / "a"))
    b = Path(shutil.copytree(world.sweep.dir, tmp_path / "b"))
    shutil.rmtree(a / "0")
    (a / "0").symlink_to(b / "0", target_is_directory=True)
    client, name, exp_id = experiment(world)
    assert export(world, name, str(a), str(b), capsys=capsys)[0] == 0
    runs = by_dir(client, exp_id)
    parents = {r.info.run_id: d for d, r in runs.items() if r.data.tags.get("fpexp.kind")}
    job0 = runs[str(b / "0")]
    assert parents[job0.data.tags["mlflow.parentRunId"]] == str(b)


def test_a_sweep_parent_is_made_again_when_its_jobs_change(world, tmp_path, capsys):
    import shutil

    sweep = Path(shutil.copytree(world.sweep.dir, tmp_path / "s"))
    client, name, exp_id = experiment(world)
    export(world, name, str(sweep), capsys=capsys)
    assert by_dir(client, exp_id)[str(sweep)].info.status == "FAILED"
    shutil.rmtree(sweep / "1")
    shutil.copytree(sweep / "0", sweep / "1")  # as a resume would leave it: job 1 completed
    record = json.loads((sweep / "1" / "run.json").read_text())
    record["command"]["job_num"] = 1
    record["command"]["overrides"] = json.loads((sweep / "sweep.json").read_text())["jobs"][1][
        "overrides"
    ]
    (sweep / "1" / "run.json").write_text(json.dumps(record))
    (sweep / "summary.csv").write_text("job,status\n0,completed\n1,completed\n")
    code, out, _ = export(world, name, str(sweep), capsys=capsys)
    assert code == 0 and out.splitlines()[-1] == f"exported: sweep {shown(sweep)}", out
    parent = by_dir(client, exp_id)[str(sweep)]
    assert parent.info.status == "FINISHED"
    local = client.download_artifacts(parent.info.run_id, "summary.csv", str(tmp_path / "dl"))
    assert Path(local).read_text() == (sweep / "summary.csv").read_text()


def test_ctrl_c_is_one_line_and_exit_130(world, monkeypatch, capsys):
    _, name, _ = experiment(world)

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(client_class(), "log_artifact", stop)
    code, _, err = export(world, name, str(world.one.dir), capsys=capsys)
    assert (code, err) == (130, "fpexp: export mlflow: stopped (the same command finishes it)\n")


def test_more_params_and_metrics_than_one_batch_holds_are_all_logged(world):
    from fpexp.mlflow_store import Logged, Store

    client, name, _ = experiment(world)
    tags = {"fpexp.key": "many", **{f"t{i}": str(i) for i in range(150)}}
    want = Logged("many", tags, {f"p{i}": str(i) for i in range(250)})
    want.metrics = {f"m{i}": float(i) for i in range(1500)}
    run_id, changed = Store(world.uri, name).sync(want)
    data = client.get_run(run_id).data
    assert changed and len(data.params) == 250 and len(data.metrics) == 1500
    assert len(data.tags) == 151 + 2  # mlflow.runName, fpexp.complete


def test_a_run_made_with_live_export_reruns_and_its_rerun_is_exported(world, monkeypatch, tmp_path):
    from fpexp.mlflow_live import EXPERIMENT_VARIABLE, URI_VARIABLE

    client, name, exp_id = experiment(world)
    monkeypatch.setenv(URI_VARIABLE, world.uri)
    monkeypatch.setenv(EXPERIMENT_VARIABLE, name)
    first = fpexp.run("seed=3", root=tmp_path)
    again = fpexp.rerun(first, check=True, root=tmp_path)
    runs = by_dir(client, exp_id)
    assert sorted(runs) == sorted([str(first.dir), str(again.dir)])
    assert {r.info.status for r in runs.values()} == {"FINISHED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HTTP_TEST = "test_export_to_a_real_mlflow_server_over_http"


@pytest.fixture(scope="module", autouse=True)
def mlflow_server(request, tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen] | None]:
    """A real ``mlflow server`` for ``HTTP_TEST`` (the module's last test), started with the
    module so that its start-up overlaps the other tests; not started unless that test was
    chosen. Its store is a copy of ``empty_store``: it does not migrate a new one."""
    if not any(item.name == HTTP_TEST for item in request.session.items):
        yield None
        return
    where, port = tmp_path_factory.mktemp("mlflow-server"), _free_port()
    shutil.copyfile(request.getfixturevalue("empty_store"), where / "s.db")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{where / 's.db'}",
            "--artifacts-destination",
            str(where / "art"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # mlflow's job runner (its GenAI jobs: seven Huey consumer processes, ~35 s of CPU over
        # the module) is not what fpexp talks to: tracking and artifacts over HTTP are.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


def _wait_for(uri: str, server: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server stopped"
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow server did not answer in 120 s")


@pytest.mark.slow
def test_export_to_a_real_mlflow_server_over_http(world, mlflow_server):
    uri, server = mlflow_server
    _wait_for(uri, server)
    lines = fpexp.export_mlflow(world.one, world.sweep, tracking_uri=uri)
    client = client_class()(tracking_uri=uri)
    exp = client.get_experiment_by_name("fpexp")
    runs = by_dir(client, exp.experiment_id)
    assert len(lines) == 4 and len(runs) == 4
    one = runs[str(world.one.dir)]
    assert sorted(f.path for f in client.list_artifacts(one.info.run_id)) == FILES
    assert fpexp.export_mlflow(world.one, tracking_uri=uri)[0].startswith("unchanged: ")
