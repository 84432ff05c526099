"""The playground's HTTP server: static files and a small JSON API, standard library only.

``ThreadingHTTPServer`` answers each request in its own thread; the training thread and the
handlers share the session's lock. The server listens on 127.0.0.1 only: it runs code on
request (training), so it must not be reachable from the network.

API (JSON in, JSON out; errors are ``{"error": message}`` with status 400, 404 or 500):

* ``GET /api/config``: cells (from the registry) with their options, tasks, bounds.
* ``POST /api/model`` ``{cell, options, hidden_size, task, task_params, lr, seed}``: a new model.
* ``POST /api/train`` ``{action: "start" | "pause" | "step", steps, lr}``;
  ``GET /api/status?since=N`` (the loss points after step N).
* ``GET /api/trace``, ``GET /api/gradflow``: gates and states, ‖∂L/∂h_t‖ on the fixed sample.
* ``GET /api/hopfield/presets``, ``POST /api/hopfield/recall``, ``POST /api/esn``.
"""

from __future__ import annotations

import json
import math
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from ..cells import CELLS
from . import classic
from .session import LR_RANGE, MAX_HIDDEN, MAX_STEPS_PER_REQUEST, Session, Trainer
from .tasks import TaskError, task_catalogue

HOST = "127.0.0.1"
MAX_BODY = 1 << 20
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
DEFAULT_MODEL = {
    "cell": "lstm",
    "options": {},
    "hidden_size": 8,
    "task": "sine",
    "task_params": {"length": 40, "batch_size": 16},
    "lr": 0.01,
    "seed": 0,
}


class NotFound(Exception):
    pass


def _config() -> dict:
    cells = []
    for spec in CELLS.values():
        options = [
            {
                "name": o.name,
                "default": o.default,
                "choices": list(o.choices) if o.choices is not None else None,
                "type": o.value_type.__name__,
                "doc": o.doc,
            }
            for o in spec.options
        ]
        cells.append({"name": spec.name, "doc": spec.doc, "options": options})
    return {
        "cells": cells,
        "tasks": task_catalogue(),
        "max_hidden": MAX_HIDDEN,
        "lr_range": list(LR_RANGE),
        "max_steps": MAX_STEPS_PER_REQUEST,
        "default_model": DEFAULT_MODEL,
        "esn": {"bounds": classic.esn_bounds(), "series": list(classic.ESN_SERIES)},
        "hopfield": {"grid": classic.GRID, "rules": ["hebbian", "storkey", "pseudoinverse"]},
    }


class App:
    """The state behind the handlers: the current session and its trainer."""

    def __init__(self) -> None:
        self.trainer = Trainer(Session(**DEFAULT_MODEL))

    @property
    def session(self) -> Session:
        return self.trainer.session

    def new_model(self, body: dict) -> dict:
        unknown = sorted(set(body) - set(DEFAULT_MODEL))
        if unknown:
            raise TaskError(f"model fields must be among {', '.join(DEFAULT_MODEL)}, got {unknown}")
        session = Session(**{**DEFAULT_MODEL, **body})
        self.trainer.replace(session)
        return session.summary()

    def train(self, body: dict) -> dict:
        action = body.get("action")
        if "lr" in body:
            self.session.set_lr(body["lr"])
        if action == "start":
            self.trainer.start()
        elif action == "pause":
            self.session.running.clear()
        elif action == "step":
            steps = body.get("steps", 1)
            if (
                isinstance(steps, bool)
                or not isinstance(steps, int)
                or not 1 <= steps <= MAX_STEPS_PER_REQUEST
            ):
                raise TaskError(
                    f"steps must be an int in [1, {MAX_STEPS_PER_REQUEST}], got {steps!r}"
                )
            self.session.running.clear()
            self.session.train_steps(steps)
        elif action is not None:
            raise TaskError(f"action must be start, pause or step, got {action!r}")
        return self.session.status()

    def get(self, path: str, query: dict) -> dict:
        if path == "/api/config":
            return _config()
        if path == "/api/model":
            return self.session.summary()
        if path == "/api/status":
            since = query.get("since", ["0"])[0]
            if not since.isdigit():
                raise TaskError(f"since must be a non-negative int, got {since!r}")
            return self.session.status(int(since))
        if path == "/api/trace":
            return self.session.trace()
        if path == "/api/gradflow":
            return self.session.gradient_flow()
        if path == "/api/hopfield/presets":
            return classic.preset_patterns()
        raise NotFound(path)

    def post(self, path: str, body: dict) -> dict:
        if path == "/api/model":
            return self.new_model(body)
        if path == "/api/train":
            return self.train(body)
        if path == "/api/hopfield/recall":
            return classic.hopfield_recall(body)
        if path == "/api/esn":
            return classic.esn_run(body)
        raise NotFound(path)


def _finite(value: object) -> object:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        try:
            text = json.dumps(payload, allow_nan=False)
        except ValueError:  # a diverged model: NaN and inf are not JSON, null is
            text = json.dumps(_finite(payload), allow_nan=False)
        self._send(status, text.encode(), "application/json")

    def _dispatch(self, call) -> None:
        try:
            self._json(200, call())
        except NotFound as err:
            self._json(404, {"error": f"no such endpoint: {err}"})
        except (TaskError, ValueError, TypeError) as err:
            self._json(400, {"error": str(err)})
        except Exception as err:  # a bug: say so instead of dropping the connection
            traceback.print_exc()
            self._json(500, {"error": f"internal error: {type(err).__name__}: {err}"})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.startswith("/api/"):
            self._dispatch(lambda: self.server.app.get(url.path, parse_qs(url.query)))
            return
        name = "index.html" if url.path == "/" else url.path.removeprefix("/static/")
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        static = resources.files(__package__) / "static"
        if "/" in name or suffix not in STATIC_TYPES or not (static / name).is_file():
            self._json(404, {"error": f"no such file: {url.path}"})
            return
        self._send(200, (static / name).read_bytes(), STATIC_TYPES[suffix])

    def do_POST(self) -> None:
        url = urlparse(self.path)
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._json(400, {"error": f"the body must be at most {MAX_BODY} bytes of JSON"})
            self.close_connection = True
            return
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw or b"{}")
        except ValueError as err:
            self._json(400, {"error": f"the body must be JSON: {err}"})
            return
        if not isinstance(body, dict):
            self._json(400, {"error": f"the body must be a JSON object, got {type(body).__name__}"})
            return
        self._dispatch(lambda: self.server.app.post(url.path, body))


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, *, verbose: bool = False) -> None:
        self.app = App()
        self.verbose = verbose
        super().__init__((HOST, port), Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_port}/"

    def server_close(self) -> None:
        self.app.trainer.close()
        super().server_close()


def start_in_thread(port: int = 0) -> tuple[PlaygroundServer, threading.Thread]:
    """A server on 127.0.0.1:``port`` (0: a free port) serving from a daemon thread; stop it
    with ``server.shutdown(); server.server_close()``."""
    server = PlaygroundServer(port)
    thread = threading.Thread(target=server.serve_forever, name="rnnkit-playground", daemon=True)
    thread.start()
    return server, thread
