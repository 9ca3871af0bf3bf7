"""``rnnkit serve`` end to end, over real HTTP with the standard library's client: the console
script serves tiny runs on loopback ports and answers what the library answers in this process;
bad requests get a 4xx and the server answers on; the token guards ``/v1/``; 2,000 requests
from 32 threads get no 5xx and each the answer it gets alone; SIGTERM lets a request in flight
finish and the process exit with status 0.

The console script's own server process serves the classify run, on which the token, the
limits, the load and SIGTERM are tested; the other runs are served by uvicorn in threads of this
process — the same app on the same HTTP stack, without another 3 s of imports per run.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import soundfile
import uvicorn

from conftest import write_corpus
from rnnkit.cli.serve import serve
from rnnkit.data.builtin_audio import builtin_utterances
from rnnkit.data.builtin_scenes import builtin_images
from rnnkit.data.builtin_series import builtin_series
from rnnkit.errors import UserError
from rnnkit.serve import ServeSettings, create_app, run_server
from rnnkit.tasks import load_run, train_run

SCRIPT = Path(sys.executable).parent / "rnnkit"
TOKEN = "s3cret"
LIMITS = ["--max-input-chars", "200", "--max-inputs", "8", "--max-body-bytes", "4096"]
SMALL = ["train.threads=1", "train.max_steps=5"]
RUNS = {  # name: (task, data, overrides)
    "classify": ("classify", "builtin:sentiment", ["model.embedding_dim=16",
                 "model.hidden_size=16", "train.max_steps=40", "train.lr=0.01"]),
    "tag": ("tag", "builtin:ner", ["model.embedding_dim=8", "model.hidden_size=8",
            "model.char_hidden_size=4"]),
    "translate": ("translate", "builtin:dates", ["data.tokenizer=char", "model.embedding_dim=8",
                  "model.hidden_size=8", "model.num_layers=1", "decode.eval_beam_size=1"]),
    "forecast": ("forecast", "builtin:load", ["model.hidden_size=8", "model.num_layers=1",
                 "data.context_length=24", "data.horizon=6"]),
    "lm": ("lm", "corpus", ["model.embedding_dim=8", "model.hidden_size=16", "train.bptt=16"]),
    "speech": ("speech", "builtin:tones", ["data.sample_rate=8000", "model.hidden_size=8",
               "model.num_layers=1", "data.n_mels=8", "model.subsample=3"]),
    "caption": ("caption", "builtin:scenes", ["data.image_size=16", "model.encoder_channels=[4]",
                "model.hidden_size=8", "model.embedding_dim=8", "decode.beam_size=1"]),
    "sketch": ("sketch", "builtin:doodles", ["model.hidden_size=8", "model.encoder_size=4",
               "model.latent_size=3", "model.num_mixtures=2", "train.batch_size=8"]),
}  # fmt: skip
pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class Server:
    """A server of ``run`` on a loopback ``port``; calls send ``token`` unless told otherwise.
    A server process has its ``process`` and its output in ``log``."""

    run: Path
    port: int
    token: str | None = None
    process: subprocess.Popen | None = None
    log: Path | None = None

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
        token: str | None = None, chunked: bool = False,
    ) -> tuple[int, bytes, http.client.HTTPMessage]:  # fmt: skip
        """Status, body and headers of one request (``token`` "" sends none)."""
        token = self.token if token is None else token
        sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body, sent, encode_chunked=chunked)
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        finally:
            connection.close()

    def output(self) -> str:
        """What the server process wrote so far."""
        return self.log.read_text() if self.log else ""

    def post(self, path: str, payload: Any, **options: Any) -> tuple[int, Any]:
        """Status and parsed JSON answer of a JSON request."""
        body = json.dumps(payload).encode()
        status, data, _ = self.call("POST", path, body, {"Content-Type": "application/json"},
                                    **options)  # fmt: skip
        return status, json.loads(data)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train(name: str, folder: Path) -> Path:
    task, data, overrides = RUNS[name]
    if data == "corpus":
        data = str(write_corpus(folder / "corpus.txt", 6000))
    train_run(task, [data], folder / name, overrides=[*SMALL, *overrides], live=False)
    return folder / name


def start(run: Path, log: Path, *options: str, env: dict[str, str] | None = None) -> Server:
    """The console script serving ``run`` with ``options`` (started, not yet ready), its
    output in ``log``; its requests carry `TOKEN`."""
    port = free_port()
    command = [str(SCRIPT), "serve", str(run), "--port", str(port), *options]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    return Server(run, port, TOKEN, process, log)


def wait_ready(server: Server, timeout: float = 180) -> None:
    """Return once ``server`` answers /healthz; fail, with its log, if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process is None or server.process.poll() is None, server.output()
        try:
            if server.call("GET", "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer in {timeout} s: {server.output()}")


def serve_in_thread(run: Path) -> tuple[Server, uvicorn.Server]:
    """uvicorn serving ``run`` in a thread of this process (started, not yet ready)."""
    port = free_port()
    app = create_app(load_run(run), ServeSettings(port=port))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    return Server(run, port), server


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The console script serving the classify run twice (the second for SIGTERM), started
    first so that their imports overlap the training of the other runs, which are served in
    threads of this process."""
    folder = tmp_path_factory.mktemp("serve")
    started: dict[str, Server] = {}
    threads: list[uvicorn.Server] = []
    try:
        classify = train("classify", folder)
        options = ["--token", TOKEN, *LIMITS]
        started["classify"] = start(classify, folder / "classify.log", *options)
        started["sigterm"] = start(classify, folder / "sigterm.log", "--max-wait-ms", "2500",
                                   env={"RNNKIT_SERVE_TOKEN": TOKEN})  # fmt: skip
        for name in ("tag", "translate", "forecast", "lm", "speech", "caption", "sketch"):
            started[name], server = serve_in_thread(train(name, folder))
            threads.append(server)
        for served in started.values():
            wait_ready(served)
        yield started
    finally:
        for server in threads:
            server.should_exit = True
        processes = [served.process for served in started.values() if served.process]
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


# --- what the server serves -------------------------------------------------------------------
def test_health_is_open_and_each_server_lists_its_task_s_endpoints(servers):
    classify = servers["classify"]
    assert classify.call("GET", "/healthz", token="")[:2] == (200, b'{"status":"ok"}')
    assert classify.call("GET", "/docs", token="")[0] == 200
    routes = {"classify": "predict", "tag": "predict", "translate": "translate",
              "forecast": "forecast", "lm": "generate", "speech": "transcribe",
              "caption": "caption", "sketch": "draw"}  # fmt: skip
    for name, route in routes.items():
        status, body, _ = servers[name].call("GET", "/v1/model")
        info = json.loads(body)
        assert status == 200 and info["task"] == name and info["version"]
        assert info["endpoints"] == ["GET /healthz", "GET /v1/model", f"POST /v1/{route}"]
        assert info["config"]["task"] == name and "valid" in info["metrics"]
        status, body, _ = servers[name].call("GET", "/openapi.json", token="")
        assert status == 200 and f"/v1/{route}" in json.loads(body)["paths"]


def test_the_token_guards_every_v1_route(servers):
    classify, request = servers["classify"], {"inputs": ["a fine film"]}
    for token in ("", "wrong"):
        status, answer = classify.post("/v1/predict", request, token=token)
        assert status == 401 and "bearer token" in answer["detail"]
    assert classify.call("GET", "/v1/model", token="")[0] == 401
    basic = {"Authorization": f"Basic {TOKEN}"}
    assert classify.call("GET", "/v1/model", headers=basic, token="")[0] == 401
    assert classify.post("/v1/predict", request)[0] == 200
    from_environment = servers["sigterm"]  # its token came from RNNKIT_SERVE_TOKEN
    assert from_environment.call("GET", "/v1/model", token="")[0] == 401
    assert from_environment.call("GET", "/v1/model")[0] == 200


# --- the answers are the library's ------------------------------------------------------------
def test_classify_answers_are_the_library_s(servers):
    texts = ["a truly wonderful film", "the plot was not good", "dull", "  spaced  out  "]
    status, answer = servers["classify"].post("/v1/predict", {"inputs": texts})
    run = load_run(servers["classify"].run)
    expected = run.task.predict(run.model, "\n".join(texts), "test", input_format="lines")
    assert status == 200 and len(answer["predictions"]) == len(texts)
    for got, want in zip(answer["predictions"], expected, strict=True):
        assert_same_classification(got, want)


def assert_same_classification(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["label"] == want["label"] and set(got) == {"label", "probability", "probabilities"}
    assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)
    assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)


def test_tag_answers_are_the_library_s(servers):
    sentences = [["Anna", "Berg", "flew", "to", "Lima", "."], "Omar  visited Helix Corp"]
    status, answer = servers["tag"].post("/v1/predict", {"inputs": sentences})
    run = load_run(servers["tag"].run)
    text = "Anna Berg flew to Lima .\nOmar visited Helix Corp"
    expected = run.task.predict(run.model, text, "test", input_format="lines")
    assert status == 200
    assert answer["predictions"] == [{"tokens": r["tokens"], "tags": r["tags"]} for r in expected]


def test_translate_answers_are_the_library_s_whatever_the_settings_of_the_batch(servers):
    dates = ["March 3rd, 2021", "the 5th of june, 1999"]
    requests = [{"inputs": dates}, {"inputs": dates[:1], "beam_size": 3, "n_best": 2}]
    with ThreadPoolExecutor(2) as pool:  # concurrent: one batch, two settings
        answers = list(pool.map(lambda r: servers["translate"].post("/v1/translate", r), requests))
    run = load_run(servers["translate"].run)
    plain = run.task.translate(run.model, "\n".join(dates), "test")
    wide = run.task.translate(run.model, dates[0], "test", beam_size=3, n_best=2)
    assert answers == [(200, {"translations": plain}), (200, {"translations": wide})]
    assert [len(h) for h in answers[1][1]["translations"]] == [2]


def test_forecast_answers_are_the_library_s(servers):
    (series,) = builtin_series("builtin:load")
    full = {"time": [str(t) for t in series.time], "values": series.values.tolist()}
    shorter = {"time": full["time"][:100], "values": full["values"][:100]}
    status, answer = servers["forecast"].post("/v1/forecast", {"series": [full, shorter]})
    run = load_run(servers["forecast"].run)
    rows = [f"{t},{v!r}" for t, v in zip(full["time"], full["values"], strict=True)]
    expected = run.task.forecast(run.model, "load.csv", "\n".join(["time,load", *rows]))
    assert status == 200 and len(answer["forecasts"]) == 2
    assert answer["forecasts"][0] == expected[0]
    assert answer["forecasts"][1]["history"]["time"][-1] == shorter["time"][-1].replace("T", " ")


def events(body: bytes) -> list[tuple[str, str]]:
    """The ``(event, text)`` of each server-sent event of ``body`` (event "message" unnamed)."""
    parsed = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line)
        if fields:
            parsed.append((fields.get("event", "message"), json.loads(fields["data"])["text"]))
    return parsed


def test_generate_streams_pieces_that_join_into_the_text_the_library_writes(servers):
    lm = servers["lm"]
    request = {"prompt": "the ", "max_new_tokens": 30, "greedy": True}
    headers = {"Content-Type": "application/json"}
    status, body, answer_headers = lm.call(
        "POST", "/v1/generate", json.dumps({**request, "stream": True}), headers
    )
    assert status == 200 and answer_headers["Content-Type"].startswith("text/event-stream")
    *pieces, (last, whole) = events(body)
    assert last == "done" and all(name == "message" for name, _ in pieces)
    assert len(pieces) > 1 and "".join(text for _, text in pieces) == whole
    assert lm.post("/v1/generate", request) == (200, {"text": whole})
    run = load_run(lm.run)
    assert run.task.generate(run.model, "the ", 30, greedy=True) == ["the " + whole]
    sampled = {**request, "greedy": False, "seed": 7, "temperature": 0.8}
    assert lm.post("/v1/generate", sampled) == lm.post("/v1/generate", sampled)


# --- bad requests -----------------------------------------------------------------------------
BAD = [  # server, path, body (JSON unless bytes), status
    ("classify", "/v1/predict", {"inputs": []}, 422),
    ("classify", "/v1/predict", {"inputs": ["fine", "  "]}, 422),
    ("classify", "/v1/predict", {"inputs": ["two\nlines"]}, 422),
    ("classify", "/v1/predict", {"inputs": ["x" * 201]}, 422),
    ("classify", "/v1/predict", {"inputs": ["a"] * 9}, 422),
    ("classify", "/v1/predict", {"inputs": [3]}, 422),
    ("classify", "/v1/predict", {"inputs": "a text"}, 422),
    ("classify", "/v1/predict", {"texts": ["a text"]}, 422),
    ("classify", "/v1/predict", b'{"inputs": ["a', 422),
    ("classify", "/v1/predict", b'{"inputs": ["caf\xe9"]}', 422),
    ("classify", "/v1/predict", b'{"inputs": ["' + b"x" * 5000 + b'"]}', 413),
    ("classify", "/v1/nothing", {}, 404),
    ("tag", "/v1/predict", {"inputs": [["Anna", "B erg"]]}, 422),
    ("tag", "/v1/predict", {"inputs": [[]]}, 422),
    ("translate", "/v1/translate", {"inputs": ["x"], "beam_size": 2, "n_best": 3}, 422),
    ("translate", "/v1/translate", {"inputs": ["x"], "beam_size": "2"}, 422),
    ("forecast", "/v1/forecast", {"series": [{"time": ["2024-01-01"], "values": [1.0]}]}, 422),
    ("forecast", "/v1/forecast", {"series": [{"time": ["2024-01-01"], "values": []}]}, 422),
    ("lm", "/v1/generate", {"prompt": "a", "max_new_tokens": 513}, 422),
    ("lm", "/v1/generate", {"prompt": "a", "temperature": 0}, 422),
    ("lm", "/v1/generate", {"prompt": 1}, 422),
    ("lm", "/v1/generate", b'{"prompt": "a", "temperature": 1e999}', 422),
    ("lm", "/v1/generate", {"prompt": "a", "seed": 2**70}, 422),
    ("lm", "/v1/generate", {"condition": {"gender": "female"}}, 422),
]


def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_answers_on(servers):
    for name, path, payload, expected in BAD:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, answer, _ = servers[name].call(
            "POST", path, body, {"Content-Type": "application/json"}
        )
        detail = json.loads(answer)["detail"]
        assert status == expected, (name, payload, answer)
        assert detail and (status != 422 or all(p["msg"] for p in detail)), answer
    chunked = servers["classify"].call(
        "POST", "/v1/predict", iter([b'{"inputs": ["', b"x" * 5000, b'"]}']),
        {"Content-Type": "application/json"}, chunked=True,
    )  # fmt: skip
    assert chunked[0] == 413 and b"4,096 bytes" in chunked[1]
    short = {"series": [{"time": ["2024-01-01 00:00", "2024-01-01 01:00"], "values": [1.0, 2.0]}]}
    status, answer = servers["forecast"].post("/v1/forecast", short)
    assert status == 422 and "data.context_length" in answer["detail"][0]["msg"]
    status, answer = servers["classify"].post("/v1/predict", {"inputs": ["fine", "a\rb"]})
    assert answer["detail"][0]["loc"] == ["body", "inputs", 1]
    assert "line break" in answer["detail"][0]["msg"]
    for server in servers.values():
        assert server.call("GET", "/healthz")[0] == 200
    assert servers["classify"].post("/v1/predict", {"inputs": ["a fine film"]})[0] == 200


# --- load and shutdown ------------------------------------------------------------------------
def test_2000_concurrent_requests_get_no_5xx_and_each_its_answer_alone(servers):
    classify = servers["classify"]
    texts = ["the film was good", "not good", "dull", "a truly wonderful film", "bad acting",
             "the plot was not bad", "wonderful", "the acting was dull"]  # fmt: skip
    alone = {text: classify.post("/v1/predict", {"inputs": [text]})[1] for text in texts}
    failures: list[Any] = []
    answered = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", classify.port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        for i in range(number, 2000, 32):
            text = texts[i % len(texts)]
            connection.request("POST", "/v1/predict", json.dumps({"inputs": [text]}), headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            answered.append(text)
            if response.status != 200:
                failures.append((response.status, answer))
                continue
            (got,), (want,) = answer["predictions"], alone[text]["predictions"]
            try:
                assert_same_classification(got, want)
            except AssertionError as error:
                failures.append(error)
        connection.close()

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(client, range(32)))
    assert not failures, failures[:3]
    assert len(answered) == 2000


def test_sigterm_lets_the_request_in_flight_finish_and_the_server_exit_0(servers):
    assert_stops_gracefully(servers["sigterm"])


@pytest.mark.slow
def test_worker_processes_answer_and_stop_gracefully_together(tmp_path):
    options = ["--workers", "2", "--max-wait-ms", "2500", "--token", TOKEN]
    server = start(train("classify", tmp_path), tmp_path / "workers.log", *options)
    try:
        wait_ready(server)
        assert server.call("GET", "/v1/model", token="")[0] == 401
        assert_stops_gracefully(server)
    finally:
        assert server.process is not None
        server.process.kill()


def assert_stops_gracefully(server: Server) -> None:
    """SIGTERM while a request waits for its batch (2.5 s): it gets its answer, and the server
    exits with status 0."""
    answers: list[tuple[int, Any]] = []
    request = threading.Thread(
        target=lambda: answers.append(server.post("/v1/predict", {"inputs": ["a fine film"]}))
    )
    request.start()
    time.sleep(1)  # the request has reached the server
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    request.join(timeout=60)
    assert answers and answers[0][0] == 200 and answers[0][1]["predictions"][0]["label"]
    assert server.process.wait(timeout=60) == 0, server.output()


# --- speech, caption, sketch: one request each -----------------------------------------------
def test_transcribe_caption_and_draw_answer_as_the_library(servers, tmp_path):
    utterance = builtin_utterances("builtin:tones-test", 8000)[0]
    wav = io.BytesIO()
    soundfile.write(wav, utterance.audio, 8000, format="WAV")
    status, body, _ = servers["speech"].call(
        "POST", "/v1/transcribe", wav.getvalue(), {"Content-Type": "audio/wav"}
    )
    speech = load_run(servers["speech"].run)
    expected = speech.task.transcribe(speech.model, [utterance])[0]["text"]
    assert status == 200 and json.loads(body) == {"text": expected}
    status, body, _ = servers["speech"].call("POST", "/v1/transcribe", b"not audio")
    assert status == 422 and "the request body" in body.decode()

    image = tmp_path / "scene.png"
    builtin_images("builtin:scenes-test")[0].image.save(image)  # type: ignore[union-attr]
    status, body, _ = servers["caption"].call(
        "POST", "/v1/caption", image.read_bytes(), {"Content-Type": "image/png"}
    )
    caption = load_run(servers["caption"].run)
    (record,) = caption.task.caption(caption.model, [str(image)])
    assert status == 200 and json.loads(body)["caption"] == record["caption"]

    status, answer = servers["sketch"].post("/v1/draw", {"num": 2, "seed": 3})
    sketch = load_run(servers["sketch"].run)
    drawn = sketch.task.draw(sketch.model, 2, 0.4, seed=3)
    assert status == 200 and answer["sketches"] == [s.astype(float).tolist() for s in drawn]


# --- the command ------------------------------------------------------------------------------
def test_serve_without_the_extra_or_with_a_bad_setting_is_a_one_line_error(monkeypatch):
    with pytest.raises(UserError, match="needs the serve extra: pip install 'rnnkit"):
        monkeypatch.setattr("rnnkit.cli.serve.find_spec", lambda name: None)
        serve(Path("runs/none"))
    with pytest.raises(UserError, match="--max-batch-size must be at least 1, got 0"):
        ServeSettings(max_batch_size=0)


def test_a_port_in_use_is_a_one_line_error_before_the_model_loads():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}: Address already"):
            run_server(Path("runs/none"), ServeSettings(port=port))
