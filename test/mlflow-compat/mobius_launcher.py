"""
Pytest plugin that points MLflow's own live-server tests at `mobius server`.

MLflow's `tests/tracking/test_rest_tracking.py` and `test_model_registry.py` start their
server through `tests.tracking.integration_test_utils` (`ServerThread`, and `_init_server`
in older releases). This plugin replaces both, before the test modules import them, with
a launcher that spawns the real Mobius CLI on a fresh state directory per test — the
same isolation MLflow gives each test with its fresh database. Everything else in
MLflow's tests runs unmodified.

Used by scripts/mlflow-compat.sh; environment:
  MOBIUS_BIN        path to bin/mobius.js (required)
  MOBIUS_COMPAT_PG  a postgres:// URL: run each test in its own schema there instead of
                    a fresh SQLite file
  MOBIUS_COMPAT_LOGS  a directory: keep each server's log there (server-<port>.log)
  MOBIUS_COMPAT_BASELINE=1  run against MLflow's own server instead (the control run)
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MobiusServer:
    """Drop-in for MLflow's ServerThread: a context manager yielding the server URL."""

    def __init__(self, app=None, port=None, _share_tracking_uri=True, **_ignored):
        self.share_tracking_uri = _share_tracking_uri
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = tempfile.mkdtemp(prefix="mobius-compat-")
        self.proc = None

    def __enter__(self) -> str:
        args = ["node", os.environ["MOBIUS_BIN"], "server", "--port", str(self.port)]
        args += ["--home", self.home]
        pg = os.environ.get("MOBIUS_COMPAT_PG")
        if pg:
            sep = "&" if "?" in pg else "?"
            args += ["--store", f"{pg}{sep}schema=compat_{uuid.uuid4().hex[:12]}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOBIUS_")}
        self.log = open(os.path.join(self.home, "server.log"), "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mobius server exited: {open(self.log.name).read()}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    if self.share_tracking_uri:
                        self._share_with_fluent_api()
                    return self.url
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"mobius server did not become healthy on {self.url}")

    def _share_with_fluent_api(self):
        """MLflow's in-process server shares its backend with the test's own fluent calls:
        `initialize_backend_stores` (run by the `mlflow_client` fixture just before the
        server starts) sets the process' tracking URI to the server's database, so
        `mlflow.genai.datasets.create_dataset(...)` in a test body writes where the server
        reads. Pointing the tracking URI at this server gives the tests the same single
        backend; MLflow's conftest restores the URI after each test. (`_init_server`
        starts MLflow's server as a subprocess, which changes no URI here, so its
        stand-in does not either.)"""
        import mlflow

        mlflow.set_tracking_uri(self.url)

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        keep = os.environ.get("MOBIUS_COMPAT_LOGS")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(self.log.name, os.path.join(keep, f"server-{self.port}.log"))
        shutil.rmtree(self.home, ignore_errors=True)
        return None

    # MLflow's ServerThread API, for tests that call these directly.
    def start(self):
        self.__enter__()

    def shutdown(self):
        self.__exit__()


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, app=None, **_):
    with MobiusServer(_share_tracking_uri=False) as url:
        yield url


def pytest_collection_modifyitems(config, items):
    """Deselects the cases parametrized for MLflow's file store: they test MLflow's own
    backend, not the server protocol, and are outside the compatibility target."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        (drop if "file" in params.values() else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    # MOBIUS_COMPAT_BASELINE=1 keeps MLflow's own server: the same tests, the same client,
    # run against MLflow itself, to tell Mobius gaps from test/client version drift.
    if os.environ.get("MOBIUS_COMPAT_BASELINE") == "1":
        return
    import tests.tracking.integration_test_utils as utils

    utils.ServerThread = MobiusServer
    utils._init_server = _init_server
