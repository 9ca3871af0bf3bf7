"""Throughput of ``rnnkit serve`` with micro-batching on and off: requests per second and p50 /
p99 latency for 1, 8 and 32 concurrent clients.

Two server processes per model, started with the console script: micro-batching on
(``--max-batch-size 32`` and ``--max-wait-ms`` of this script, 0 by default as the server's)
and off (``--max-batch-size 1``). The models: a
classifier of the default size (``classify`` defaults: embedding 128, one bidirectional LSTM
layer of 128 units, max pooling, MLP) on ``builtin:sentiment``, asked ``POST /v1/predict`` with
one review of ``builtin:sentiment-test`` per request; and a language model of the default size
(``lm`` defaults: 2-layer LSTM, 512 units) on ``builtin:reber`` characters, asked ``POST
/v1/generate`` (not streamed) for ``--tokens`` new tokens. Both are trained for one step (speed
does not depend on the weights), or given with ``--classifier-run`` / ``--lm-run``.

Each client is a thread with its own keep-alive connection, sending its next request when the
previous one is answered, until ``--requests`` (``--generate-requests``) have been answered in
all; requests/s is that number over the wall time, latency is per request. On and off are
interleaved round after round (see `common`); the table gives the best round of each and the
speed-up of on over off at the same number of clients. The clients run in this process, on the
same cores as the servers.

    python benchmarks/serve_throughput.py                    # about 3 minutes on 2 cores
    python benchmarks/serve_throughput.py --rounds 1 --requests 500 --skip-lm
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import print_table, write_json
from rnnkit.data.builtin_labeled import builtin_labeled_texts
from rnnkit.tasks import train_run

MODES = {"on": ["--max-batch-size", "32"], "off": ["--max-batch-size", "1"]}  # + --max-wait-ms
PROMPT = "BTSSXXTVVE\nB"  # a Reber string, then the start of the next


def trained_run(task: str, data: str, out: Path) -> Path:
    """``out``, holding a ``task`` run of the default size trained for one step on ``data``
    unless it has one."""
    if not (out / "config.yaml").is_file():
        overrides = ["train.max_steps=1", "train.threads=1"]
        train_run(task, [data], out, overrides=overrides, live=False)
    return out


@contextmanager
def servers(run_dir: Path, threads: int, max_wait_ms: float, log: Path) -> Iterator[dict[str, int]]:
    """An ``rnnkit serve`` process of ``run_dir`` per mode, as ``{mode: port}``."""
    command = [str(Path(sys.executable).parent / "rnnkit"), "serve", str(run_dir)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    ports, processes = {}, []
    with log.open("ab") as out:
        for mode, options in MODES.items():
            ports[mode] = free_port()
            processes.append(subprocess.Popen(
                [*command, "--port", str(ports[mode]), "--max-wait-ms", str(max_wait_ms), *options],
                stdout=out, stderr=subprocess.STDOUT, env=environment,
            ))  # fmt: skip
    try:
        for port in ports.values():
            wait_listening(port)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, timeout: float = 180.0) -> None:
    """Return once the server on ``port`` answers /healthz."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            connection.close()


def load(port: int, path: str, bodies: list[bytes], clients: int) -> dict[str, Any]:
    """Send every body of ``bodies`` to ``path`` from ``clients`` threads; requests/s and the
    latency of each request (s)."""
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(first: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Content-Type": "application/json"}
        for body in bodies[first::clients]:
            start = time.perf_counter()
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - start)
                if response.status != 200:
                    failures.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. with status {failures[0]}")
    return {"requests_per_s": len(bodies) / wall, "latencies": latencies}


def measure(
    ports: dict[str, int], path: str, bodies: list[bytes], concurrency: list[int], rounds: int
) -> dict[tuple[int, str], dict[str, Any]]:
    """The best of ``rounds`` rounds of each (clients, mode), on and off interleaved."""
    configs = [(clients, mode) for clients in concurrency for mode in ports]
    for mode in ports:  # warm up
        load(ports[mode], path, bodies[: 2 * max(concurrency)], max(concurrency))
    results: dict[tuple[int, str], list[dict[str, Any]]] = {config: [] for config in configs}
    for round_ in range(rounds):
        for clients, mode in configs if round_ % 2 == 0 else configs[::-1]:
            results[clients, mode].append(load(ports[mode], path, bodies, clients))
    return {c: max(r, key=lambda x: x["requests_per_s"]) for c, r in results.items()}


def rows_of(model: str, best: dict[tuple[int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per configuration: throughput, p50 / p99 latency (ms), speed-up over off."""
    records = []
    for (clients, mode), result in best.items():
        latencies = result["latencies"]
        records.append({
            "model": model, "micro_batching": mode, "clients": clients,
            "requests_per_s": result["requests_per_s"],
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * statistics.quantiles(latencies, n=100, method="inclusive")[98],
            "speedup": result["requests_per_s"] / best[clients, "off"]["requests_per_s"],
        })  # fmt: skip
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classifier-run", type=Path, help="a saved classify run")
    parser.add_argument("--lm-run", type=Path, help="a saved lm run")
    parser.add_argument("--out", type=Path, default=Path("runs/serve_throughput"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=2000, help="classify requests a round")
    parser.add_argument("--generate-requests", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=50, help="new tokens a generate request")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of a server")
    parser.add_argument("--skip-lm", action="store_true", help="measure the classifier only")
    parser.add_argument("--max-wait-ms", type=float, default=0.0, help="the servers' setting")
    parser.add_argument("--json", help="where to write the results (default results/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "servers.log"

    texts = [t.text for t in builtin_labeled_texts("builtin:sentiment-test")]
    bodies = [json.dumps({"inputs": [texts[i % len(texts)]]}).encode()
              for i in range(args.requests)]  # fmt: skip
    classifier = args.classifier_run or trained_run(
        "classify", "builtin:sentiment", args.out / "classify"
    )
    with servers(classifier, args.threads, args.max_wait_ms, log) as ports:
        best = measure(ports, "/v1/predict", bodies, args.concurrency, args.rounds)
    records = rows_of("classify", best)
    if not args.skip_lm:
        lm = args.lm_run or trained_run("lm", "builtin:reber", args.out / "lm")
        request = {"prompt": PROMPT, "max_new_tokens": args.tokens, "stop_at_eos": False}
        bodies = [json.dumps({**request, "seed": i}).encode()
                  for i in range(args.generate_requests)]  # fmt: skip
        with servers(lm, args.threads, args.max_wait_ms, log) as ports:
            best = measure(ports, "/v1/generate", bodies, args.concurrency, args.rounds)
        records += rows_of(f"lm ({args.tokens} tokens)", best)
    report(args, records)


def report(args: argparse.Namespace, records: list[dict[str, Any]]) -> None:
    """Print the table and write the JSON file."""
    columns = ["model", "micro-batching", "clients", "requests/s", "p50 ms", "p99 ms",
               "on / off"]  # fmt: skip
    print_table("rnnkit serve throughput", columns, [list(r.values()) for r in records])
    settings = {key: str(value) for key, value in vars(args).items()}
    settings["command"] = " ".join(sys.argv)
    target = write_json("serve_throughput", {"settings": settings, "results": records}, args.json)
    print("wrote", target)


if __name__ == "__main__":
    main()
