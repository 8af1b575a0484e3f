"""`nlp-lstm serve`: a saved pipeline over HTTP, speaking MLflow's scoring protocol (`POST /invocations` with
`inputs`, `instances`, `dataframe_split` or `dataframe_records`, and `params`; `GET /ping`), strictly.

What runs is the installed nlp_lstm: a pipeline folder is data (its config, vocabularies and Keras weights,
loaded in Keras's safe mode), never code. A model from an MLflow store (`runs:/`, `models:/`) is downloaded
and served the same way; the `pyfunc.py` and package copy stored with it are not run.

Every request is checked before the model sees it: the texts are found by name (`text`), every value must be
a text (or, where the task takes them, a list of tokens), every param must be one the model takes, with a
value of its kind; an empty input is an empty answer in every format. A request the server cannot take is a
400 whose message is one line and quotes at most a short excerpt of the request; a body over the size limit
is a 413 before it is read.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nlp_lstm.errors import UsageError, excerpt

TEXT_COLUMN = "text"
INPUT_FORMATS = ("inputs", "instances", "dataframe_split", "dataframe_records")
DEFAULT_MAX_REQUEST_MB = 10.0
# Connections one server process takes at once; more are answered 503 (each may buffer a request body).
CONCURRENCY = 32


class RequestError(Exception):
    """A request the server cannot take: its HTTP status and a one-line message."""

    def __init__(self, message: str, status: int = 400, code: str = "BAD_REQUEST"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Request:
    """What a client asked for: one input per row (a text, or a list of tokens) and the prediction params."""

    rows: list[Any]
    params: dict[str, Any] = field(default_factory=dict)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _checked_row(index: int, value: Any, takes_tokens: bool) -> Any:
    """A text, or (for a task that tags tokens) a non-empty list of token texts; anything else refused."""
    if isinstance(value, str):
        return _encodable(index, value)
    if takes_tokens and isinstance(value, list):
        bad = next((i for i, token in enumerate(value) if not isinstance(token, str)), None)
        if bad is not None:
            raise RequestError(f"input {index}: token {bad} is {_kind(value[bad])}, not a text")
        return [_encodable(index, token) for token in value]
    what = "a text or a list of token texts" if takes_tokens else "a text"
    raise RequestError(f"input {index} is {_kind(value)} ({excerpt(value, 40)}), not {what}")


def _encodable(index: int, text: str) -> str:
    """A text that UTF-8 can carry (JSON lets a lone surrogate through, which no answer could send back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"input {index} holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
    return text


def _rows_of(name: str, payload: Any) -> list[Any]:
    """The input rows of one of MLflow's formats, by the text column's name where the format names columns."""
    if name in ("inputs", "instances"):
        if isinstance(payload, dict):  # columnar: {"text": [...]}
            if TEXT_COLUMN not in payload:
                raise RequestError(f"{name} has no {TEXT_COLUMN!r} column (got: {', '.join(map(str, payload))})")
            payload = payload[TEXT_COLUMN]
        if not isinstance(payload, list):
            raise RequestError(f"{name} must be a list of texts, got {_kind(payload)}")
        return [row[TEXT_COLUMN] if isinstance(row, dict) and TEXT_COLUMN in row else row for row in payload]
    if name == "dataframe_split":
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise RequestError('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
        columns = payload.get("columns")
        if not isinstance(columns, list) or TEXT_COLUMN not in columns:
            got = ", ".join(map(str, columns)) if isinstance(columns, list) else "no columns"
            raise RequestError(f"dataframe_split has no {TEXT_COLUMN!r} column (got: {got})")
        position = columns.index(TEXT_COLUMN)
        rows = []
        for index, row in enumerate(payload["data"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise RequestError(f"dataframe_split row {index} must be a list of {len(columns)} values")
            rows.append(row[position])
        return rows
    # dataframe_records
    if not isinstance(payload, list):
        raise RequestError(f"dataframe_records must be a list of objects, got {_kind(payload)}")
    rows = []
    for index, record in enumerate(payload):
        if not isinstance(record, dict) or TEXT_COLUMN not in record:
            got = ", ".join(map(str, record)) if isinstance(record, dict) else _kind(record)
            raise RequestError(f"dataframe_records record {index} has no {TEXT_COLUMN!r} (got: {got})")
        rows.append(record[TEXT_COLUMN])
    return rows


def parse_request(body: bytes, check_params: Callable[[Mapping[str, Any]], dict], takes_tokens: bool) -> Request:
    """A JSON request body as rows and params, or a RequestError saying in one line what is wrong with it."""
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise RequestError("the body is not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise RequestError(f"the body cannot be read as JSON ({excerpt(str(exc), 80)})") from None
    if not isinstance(document, dict):
        raise RequestError(f"the body must be a JSON object with one of {', '.join(INPUT_FORMATS)}")
    given = [name for name in INPUT_FORMATS if name in document]
    unknown = sorted(set(document) - set(INPUT_FORMATS) - {"params"})
    if unknown:
        raise RequestError(
            f"unknown field(s) {', '.join(map(excerpt, unknown))}; expected one of {', '.join(INPUT_FORMATS)}"
        )
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise RequestError(f"the body must hold exactly one of {', '.join(INPUT_FORMATS)} ({found})")
    rows = [_checked_row(i, row, takes_tokens) for i, row in enumerate(_rows_of(given[0], document[given[0]]))]
    if takes_tokens and rows and len({isinstance(row, str) for row in rows}) > 1:
        raise RequestError("the inputs mix texts and lists of tokens: send one kind per request")
    params = document.get("params") or {}
    if not isinstance(params, dict):
        raise RequestError(f"params must be an object, got {_kind(params)}")
    try:
        return Request(rows, check_params(params))
    except UsageError as exc:
        raise RequestError(str(exc)) from None


# ------------------------------------------------------------------------------------------------- app
class ScoringApp:
    """An ASGI application serving one loaded pipeline; predictions run one at a time (a worker process each
    for more)."""

    def __init__(self, pipeline, max_request_bytes: int, source: str = ""):
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes
        self.source = source
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":  # startup: the model is already loaded
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path in ("/ping", "/health") and method in ("GET", "HEAD"):
            await _respond(send, 200, b"\n", "text/plain")
        elif path == "/version" and method == "GET":
            from nlp_lstm.version import __version__

            await _respond_json(send, 200, {"nlp_lstm": __version__, "task": self.pipeline.task})
        elif path == "/invocations" and method == "POST":
            await self._invocations(scope, receive, send)
        elif path in ("/invocations", "/ping", "/health", "/version"):
            await _error(send, RequestError(f"{method} is not allowed on {path}", 405, "METHOD_NOT_ALLOWED"))
        else:
            await _error(
                send, RequestError(f"no such endpoint {excerpt(path, 40)}; POST /invocations", 404, "NOT_FOUND")
            )

    async def _invocations(self, scope, receive, send) -> None:
        from starlette.concurrency import run_in_threadpool

        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise RequestError(
                    f"Content-Type must be application/json, got {excerpt(content_type or 'none', 40)}",
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                )
            body = await self._body(headers, receive)
            # Off the event loop: a large body's JSON takes time, and /ping must still answer meanwhile.
            request = await run_in_threadpool(
                parse_request, body, self.pipeline.checked_options, self.pipeline.takes_tokens
            )
        except RequestError as exc:
            await _error(send, exc)
            return
        try:
            predictions = await run_in_threadpool(self._predict, request)
        except UsageError as exc:  # an option out of range that only `predict` knows (e.g. a temperature)
            await _error(send, RequestError(str(exc)))
            return
        except Exception as exc:  # a bug of ours: the server stays up, the client hears it in one line
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            await _error(send, RequestError(f"internal error ({type(exc).__name__})", 500, "INTERNAL_ERROR"))
            return
        try:
            answer = _json_bytes({"predictions": predictions})
        except (TypeError, ValueError, UnicodeEncodeError) as exc:  # an answer JSON cannot carry: ours to fix
            print(f"error: the answer cannot be sent as JSON: {exc}", file=sys.stderr, flush=True)
            await _error(send, RequestError("internal error (the answer is not JSON)", 500, "INTERNAL_ERROR"))
            return
        await _respond(send, 200, answer, "application/json")

    def _predict(self, request: Request) -> list[Any]:
        if not request.rows:
            return []
        with self.lock:
            return self.pipeline.predict(request.rows, **request.params)

    async def _body(self, headers: dict[str, str], receive) -> bytes:
        limit = self.max_request_bytes
        too_large = RequestError(
            f"the request is larger than the server's limit of {limit / 2**20:g} MB (nlp-lstm serve --max-request-mb)",
            413,
            "REQUEST_TOO_LARGE",
        )
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(receive)
            raise too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError("the client went away", 400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _drain(receive)
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


# A refused body is read (and dropped) up to this much before the answer, so that a client still sending it
# gets the 413 rather than a broken connection; past it the connection is closed.
DRAIN_BYTES = 64 << 20


async def _drain(receive) -> None:
    drained = 0
    while drained <= DRAIN_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, allow_nan=False, default=_plain).encode("utf-8")


async def _respond_json(send, status: int, document: Any) -> None:
    await _respond(send, status, _json_bytes(document), "application/json")


def _plain(value: Any) -> Any:
    """NumPy numbers and arrays in an answer, as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def _error(send, error: RequestError) -> None:
    message = " ".join(str(error).split())[:500]
    await _respond_json(send, error.status, {"error_code": error.code, "message": message})


# -------------------------------------------------------------------------------------------- serving
def check_port(host: str, port: int) -> None:
    """A UsageError (exit 2) naming the address when `port` on `host` cannot be listened on, before any
    model is loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself will
        try:
            probe.bind(address)
            probe.listen(1)
        except OSError as exc:
            raise UsageError(
                f"serve: cannot listen on {host}:{port}: {exc.strerror}"
                + (" (another process is listening there; choose another --port)" if exc.errno == 98 else "")
            ) from None


def _serving(name: str, host: str, port: int, what: str) -> None:
    print(f"serving {name} on http://{host}:{port}/invocations ({what}; Ctrl-C stops)", flush=True)


def serve_folder(folder: str, name: str, host: str, port: int, max_request_mb: float) -> None:
    """Load the pipeline in `folder` and serve it until stopped (in this process, the `serve` command's child).
    A folder that does not load is one line and exit 3, as for `predict`."""
    import uvicorn

    app = ScoringApp(_load(folder), int(max_request_mb * 2**20), folder)
    _serving(name, host, port, f"a {app.pipeline.task} model")
    uvicorn.run(
        app, host=host, port=port, workers=1, log_level="warning", access_log=False, limit_concurrency=CONCURRENCY
    )


def _load(folder: str):
    from nlp_lstm.tasks import load_folder

    return load_folder(folder)


ENV_FOLDER = "NLP_LSTM_SERVE_FOLDER"
ENV_MAX_BYTES = "NLP_LSTM_SERVE_MAX_BYTES"


def app_from_environment() -> ScoringApp:
    """The app of one of several worker processes (uvicorn's factory): the folder and the limit from the
    environment the serving process set."""
    import os

    return ScoringApp(_load(os.environ[ENV_FOLDER]), int(os.environ[ENV_MAX_BYTES]), os.environ[ENV_FOLDER])


def serve_workers(folder: str, name: str, host: str, port: int, workers: int, max_request_mb: float) -> None:
    """Serve `folder` from `workers` processes, each with the model loaded (the folder was checked to load)."""
    import os

    import uvicorn

    os.environ[ENV_FOLDER] = folder
    os.environ[ENV_MAX_BYTES] = str(int(max_request_mb * 2**20))
    _serving(name, host, port, f"{workers} worker processes")
    uvicorn.run(
        f"{__name__}:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        limit_concurrency=CONCURRENCY,
    )


def main(argv: list[str] | None = None) -> int:
    """The serving process `nlp-lstm serve` starts: `check FOLDER` loads it and exits; `serve FOLDER NAME HOST
    PORT WORKERS MAX_MB` serves it. A folder that does not load is one line and the CLI's exit code."""
    from nlp_lstm.errors import NlpLstmError, exit_status

    args = sys.argv[1:] if argv is None else argv
    try:
        if args[0] == "check":
            _load(args[1])
        elif int(args[5]) == 1:
            serve_folder(args[1], args[2], args[3], int(args[4]), float(args[6]))
        else:
            serve_workers(args[1], args[2], args[3], int(args[4]), int(args[5]), float(args[6]))
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exit_status(exc)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
