"""`nlp-lstm serve`: every request checked before the model sees it (one-line 400s that never echo the request,
413 over the size limit), the address checked before anything loads, and a parent process that holds no model."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nlp_lstm.errors import UsageError
from nlp_lstm.server import RequestError, parse_request
from tests.conftest import REPO, run_cli, sentiment_rows, write_csv


def _options(params):
    """The sentiment model's options: batch_size, a whole number >= 1."""
    unknown = sorted(set(params) - {"batch_size"})
    if unknown:
        raise UsageError(f"unknown params {unknown}; this sentiment model takes ['batch_size']")
    if "batch_size" in params and not (isinstance(params["batch_size"], int) and params["batch_size"] >= 1):
        raise UsageError(f"param batch_size must be a whole number >= 1, got {params['batch_size']!r}")
    return dict(params)


def parse(document, takes_tokens: bool = False):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return parse_request(body, _options, takes_tokens)


def refusal(document, takes_tokens: bool = False) -> str:
    with pytest.raises(RequestError) as exc:
        parse(document, takes_tokens)
    assert exc.value.status == 400
    message = str(exc.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_every_format_gives_the_same_rows_and_the_text_column_is_found_by_name():
    texts = ["a good film", "a bad one"]
    for document in (
        {"inputs": texts},
        {"instances": texts},
        {"inputs": {"text": texts}},
        {"inputs": [{"text": t} for t in texts]},
        {"dataframe_split": {"columns": ["id", "text"], "data": [[1, texts[0]], [2, texts[1]]]}},
        {"dataframe_split": {"index": [0, 1], "columns": ["text"], "data": [[t] for t in texts]}},
        {"dataframe_records": [{"text": t, "id": i} for i, t in enumerate(texts)]},
    ):
        assert parse(document).rows == texts, document
    # Empty input: an empty answer, whatever the format.
    for document in ({"inputs": []}, {"dataframe_split": {"columns": ["text"], "data": []}}, {"dataframe_records": []}):
        assert parse(document).rows == []
    assert parse({"inputs": ["x"], "params": {"batch_size": 4}}).params == {"batch_size": 4}


def test_what_the_model_cannot_take_is_a_one_line_400():
    assert refusal({"dataframe_split": {"columns": ["txt"], "data": [["x"]]}}) == (
        "dataframe_split has no 'text' column (got: txt)"
    )
    assert refusal({"dataframe_records": [{"review": "x"}]}) == "dataframe_records record 0 has no 'text' (got: review)"
    assert refusal({"inputs": ["fine", 3]}) == "input 1 is a number (3), not a text"
    assert refusal({"inputs": [True]}) == "input 0 is a boolean (True), not a text"
    assert refusal({"inputs": [None]}) == "input 0 is null (None), not a text"
    assert (
        refusal({"dataframe_split": {"columns": ["text"], "data": [[1.5]]}}) == "input 0 is a number (1.5), not a text"
    )
    assert refusal({"inputs": [["Angela", "Merkel"]]}) == "input 0 is a list (['Angela', 'Merkel']), not a text"
    assert refusal({"inputs": ["x"], "params": {"beam_size": 3}}).startswith("unknown params ['beam_size']")
    assert (
        refusal({"inputs": ["x"], "params": {"batch_size": 0}}) == "param batch_size must be a whole number >= 1, got 0"
    )
    assert refusal({"inputs": ["x"], "params": [1]}) == "params must be an object, got a list"
    assert refusal({"texts": ["x"]}).startswith("unknown field(s) 'texts'; expected one of inputs, instances")
    assert refusal({"inputs": ["x"], "instances": ["y"]}).startswith("the body must hold exactly one of")
    assert refusal({}).startswith("the body must hold exactly one of")
    assert refusal([1, 2]).startswith("the body must be a JSON object")
    assert refusal({"inputs": "just one text"}) == "inputs must be a list of texts, got a str"
    assert refusal(b"\xff\xfe").startswith("the body is not")
    assert refusal(b"[" * 100_000).startswith("the body is not valid JSON")


def test_a_refusal_quotes_only_an_excerpt_of_the_request():
    huge = "x" * 5_000_000
    assert len(refusal({"inputs": [[huge]]}, takes_tokens=False)) < 200
    assert len(refusal(("{" + '"inputs": [' + huge).encode())) < 200
    assert len(refusal({huge: 1})) < 300


def test_json_python_cannot_take_and_text_no_answer_could_carry_are_refused():
    assert refusal(b'{"inputs": [' + b"9" * 5000 + b"]}").startswith("the body cannot be read as JSON")
    assert refusal(b'{"inputs": ["a \\ud800 b"]}').startswith("input 0 holds a lone surrogate")


def test_counts_a_request_asks_for_are_bounded_and_huge_numbers_refused():
    from nlp_lstm.tasks.base import OPTION_LIMITS, TrainedPipeline

    class Options:
        task = "language_model"

        def predict_options(self):
            return {"max_tokens": 50, "temperature": 1.0, "beam_size": 5, "batch_size": 64}

        def least_option_value(self, name):
            return 1

    options = Options()
    check = lambda params: TrainedPipeline.checked_options(options, params)  # noqa: E731
    assert check({"max_tokens": OPTION_LIMITS["max_tokens"]}) == {"max_tokens": OPTION_LIMITS["max_tokens"]}
    for name in ("max_tokens", "beam_size", "batch_size"):
        with pytest.raises(UsageError, match=f"param {name} must be at most {OPTION_LIMITS[name]}, got 1000000000"):
            check({name: 10**9})
    with pytest.raises(UsageError, match="param temperature must be a number"):
        check({"temperature": 10**400})


def test_tokens_are_taken_only_by_a_task_that_tags_them():
    tokens = [["Angela", "Merkel", "visited", "Paris", "."], ["Berlin"]]
    assert parse({"inputs": tokens}, takes_tokens=True).rows == tokens
    assert refusal({"inputs": ["Paris", ["Paris"]]}, takes_tokens=True).startswith("the inputs mix texts and lists")
    assert refusal({"inputs": [["Paris", 1]]}, takes_tokens=True) == "input 0: token 1 is a number, not a text"


# ----------------------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("served")
    train = write_csv(tmp / "train.csv", sentiment_rows())
    config = tmp / "tiny.yaml"
    config.write_text(
        f"task: sentiment\ndata: {{train: {train}}}\nmodel: {{embedding_dim: 8, rnn: {{units: 8}}}}\n"
        f"training: {{epochs: 1, batch_size: 8}}\ntracking: {{enabled: false}}\noutput_dir: {tmp / 'out'}\n",
        encoding="utf-8",
    )
    result = run_cli("run", str(config), cwd=tmp)
    assert result.returncode == 0, result.stderr[-2000:]
    return Path(re.search(r"model saved:\s+(\S+)", result.stdout).group(1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, body: bytes, content_type: str = "application/json", method: str = "POST"):
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 240) -> None:
    """Until `url`/ping answers 200 (every worker's model loaded); the server must not exit meanwhile."""
    deadline = time.time() + seconds
    while True:
        assert server.poll() is None, server.communicate()[0]
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.time() < deadline, "the server did not start"
        time.sleep(0.5)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _server_child(pid: int) -> int:
    """The serving process among `nlp-lstm serve`'s children (the other filters its standard error)."""
    (child,) = [c for c in _children(pid) if b"nlp_lstm.server" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return child


def test_the_server_limits_requests_and_its_parent_holds_no_model(model_dir: Path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm.cli", "serve", str(model_dir), "--port", str(port), "--max-request-mb", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        # The address is taken: a second server says so before loading anything.
        busy = run_cli("serve", str(model_dir), "--port", str(port))
        assert busy.returncode == 2 and "another process is listening there" in busy.stderr
        assert busy.stderr.count("\n") == 1

        status, answer = _request(f"{url}/invocations", json.dumps({"inputs": ["a wonderful film"]}).encode())
        assert status == 200 and answer["predictions"][0]["label"] in ("positive", "negative")
        status, answer = _request(f"{url}/invocations", b'{"inputs": ["' + b"a" * 1_100_000 + b'"]}')
        assert (status, answer["error_code"]) == (413, "REQUEST_TOO_LARGE")
        assert "1 MB" in answer["message"]
        status, answer = _request(f"{url}/invocations", b"text", content_type="text/plain")
        assert (status, answer["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
        status, answer = _request(f"{url}/invocations", b"{" + b"x" * 500_000)
        assert status == 400 and len(answer["message"]) < 200
        status, answer = _request(f"{url}/elsewhere", b"{}")
        assert status == 404
        status, answer = _request(f"{url}/invocations", b"", method="PUT")
        assert status == 405
        with urllib.request.urlopen(f"{url}/version", timeout=10) as response:
            assert json.loads(response.read())["task"] == "sentiment"

        # The `serve` process only waits for the server: the model lives in its child alone.
        child = _server_child(server.pid)
        assert _rss_mb(server.pid) < 150 < _rss_mb(child), (_rss_mb(server.pid), _rss_mb(child))
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode == 143


def test_serve_mistakes_are_one_line_before_anything_loads(model_dir: Path, tmp_path: Path):
    result = run_cli("serve", str(model_dir), "--port", "70000")
    assert result.returncode == 2 and "expected a port number from 1 to 65535, got 70000" in result.stderr
    result = run_cli("serve", str(tmp_path / "nothing"))
    assert result.returncode == 3 and result.stderr.strip().endswith("or an MLflow URI)")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "pipeline.json").write_text("[" * 100_000, encoding="utf-8")
    for workers in ("1", "2"):
        result = run_cli("serve", str(damaged), "--port", str(_free_port()), "--workers", workers)
        assert result.returncode == 3, result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "Traceback" not in result.stderr
        assert str(damaged / "pipeline.json") in result.stderr


def test_several_workers_serve_alike(model_dir: Path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm.cli", "serve", str(model_dir), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        answers = {
            json.dumps(_request(f"{url}/invocations", b'{"inputs": ["a wonderful film", "i hated it"]}'))
            for _ in range(6)
        }
        assert len(answers) == 1 and json.loads(answers.pop())[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_ctrl_c_to_the_whole_group_stops_the_server_with_status_130_and_no_traceback(model_dir: Path):
    """A terminal's Ctrl-C reaches every process of the group, the stderr filter included: it must outlive it."""
    import signal

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm.cli", "serve", str(model_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_until_up(f"http://127.0.0.1:{port}", server)
    os.killpg(server.pid, signal.SIGINT)
    _, err = server.communicate(timeout=60)
    assert server.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
