"""Streaming generation for a server: time to first token and tokens per second with 1, 8 and
32 concurrent streams, micro-batched (``max_batch_size=32``: the streams share one
``model.step`` a token) or not (``max_batch_size=1``: one stream at a time, the others queue).

Measured on `rnnkit.serve.streaming.GenerationBatcher` in this process and, with ``--server``,
through ``rnnkit serve`` (one server process per batch size) as server-sent events read over
HTTP. Every stream samples ``--tokens`` new tokens (temperature 1, its own seed) after a short
prompt, from a language model of the default size (``lm`` defaults: 2-layer LSTM, 512 hidden
units) on ``builtin:reber`` characters, trained for one step (speed does not depend on the
weights); ``--run`` takes a saved run instead. All streams are sent at once: a stream's time
to first token (TTFT) runs from then to its first piece, and tokens/s counts every stream's
tokens over the time until the last one ends. Configurations are interleaved round after
round (see `common`); the table gives the median over rounds of the median and the largest
TTFT, and the best round's tokens/s.

    python benchmarks/serve_streaming.py --server             # about 3 minutes on 2 cores
    python benchmarks/serve_streaming.py --tokens 50 --rounds 2 --concurrency 1 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from common import print_table, write_json
from rnnkit.serve.streaming import GenerationBatcher, GenerationRequest
from rnnkit.tasks import LoadedRun, load_run, train_run

PROMPT = "BTSSXXTVVE\nB"  # a Reber string, then the start of the next
BATCH_SIZES = {"on (32)": 32, "off (1)": 1}
FirstPiece = Callable[[int, float], Awaitable[float]]  # (seed, start) -> time to first piece


def trained_run(out: Path) -> Path:
    """``out``, holding a run trained for one step on ``builtin:reber`` unless it has one."""
    if not (out / "config.yaml").is_file():
        overrides = ["train.max_steps=1", "train.threads=1"]
        train_run("lm", ["builtin:reber"], out, overrides=overrides, live=False)
    return out


async def timed(streams: int, tokens: int, first_piece: FirstPiece) -> dict[str, Any]:
    """Start ``streams`` streams at once; the time to first piece of each (s) and tokens/s."""
    start = time.perf_counter()
    firsts = await asyncio.gather(*(first_piece(seed, start) for seed in range(streams)))
    return {"ttft": firsts, "tokens_per_s": streams * tokens / (time.perf_counter() - start)}


async def in_process(run: LoadedRun, batch_size: int, streams: int, tokens: int) -> dict[str, Any]:
    """One round on a fresh `GenerationBatcher`."""
    batcher = GenerationBatcher(run, max_batch_size=batch_size)
    await batcher.start()

    async def first_piece(seed: int, start: float) -> float:
        pieces = batcher.stream(GenerationRequest(PROMPT, tokens, seed=seed))
        await anext(pieces)
        first = time.perf_counter() - start
        async for _ in pieces:
            pass
        return first

    try:
        return await timed(streams, tokens, first_piece)
    finally:
        await batcher.stop()


async def over_http(port: int, streams: int, tokens: int) -> dict[str, Any]:
    """One round of ``POST /v1/generate`` streams to the server on ``port``, read as
    server-sent events over plain HTTP/1.1."""

    async def first_piece(seed: int, start: float) -> float:
        body = json.dumps({"prompt": PROMPT, "max_new_tokens": tokens, "seed": seed,
                           "stream": True}).encode()  # fmt: skip
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/generate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))  # fmt: skip
        status, first = await reader.readline(), 0.0
        assert b" 200 " in status, status
        while (line := await reader.readline()) and not line.startswith(b"event: done"):
            if not first and line.startswith(b"data: "):
                first = time.perf_counter() - start
        writer.close()
        return first

    return await timed(streams, tokens, first_piece)


@contextmanager
def servers(run_dir: Path, threads: int) -> Iterator[dict[int, int]]:
    """An ``rnnkit serve`` process for each batch size, as ``{batch size: port}``."""
    ports = {size: 18700 + size for size in BATCH_SIZES.values()}
    command = [str(Path(sys.executable).parent / "rnnkit"), "serve", str(run_dir)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([*command, "--port", str(port), "--max-batch-size", str(size)],
                                  env=environment, **quiet)
                 for size, port in ports.items()]  # fmt: skip
    try:
        for port in ports.values():
            asyncio.run(_listening(port))
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait()


async def _listening(port: int, timeout: float = 120.0) -> None:
    """Return once something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a saved lm run (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("runs/serve_streaming_lm"))
    parser.add_argument("--server", action="store_true", help="also through `rnnkit serve`")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tokens", type=int, default=100, help="new tokens per stream")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", help="where to write the results (default results/)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = args.run or trained_run(args.out)
    run = load_run(run_dir)

    with servers(run_dir, args.threads) if args.server else nullcontext() as ports:
        targets: dict[str, Callable[[int, int], Awaitable[dict[str, Any]]]] = {}
        for batching, size in BATCH_SIZES.items():
            targets[f"in process|{batching}"] = lambda n, t, size=size: in_process(run, size, n, t)
            if ports:
                targets[f"HTTP + SSE|{batching}"] = lambda n, t, p=ports[size]: over_http(p, n, t)
        configs = [(streams, name) for streams in args.concurrency for name in targets]
        results: dict[tuple[int, str], list[dict[str, Any]]] = {c: [] for c in configs}
        for target in targets.values():
            asyncio.run(target(1, 5))  # warm up
        for round_ in range(args.rounds):
            for streams, name in configs if round_ % 2 == 0 else configs[::-1]:
                results[streams, name].append(asyncio.run(targets[name](streams, args.tokens)))
    report(args, configs, results, str(run_dir))


def report(
    args: argparse.Namespace,
    configs: list[tuple[int, str]],
    results: dict[tuple[int, str], list[dict[str, Any]]],
    run_dir: str,
) -> None:
    """Print the table and write the JSON file."""
    rows, records = [], []
    for streams, name in configs:
        rounds = results[streams, name]
        via, batching = name.split("|")
        speed = max(r["tokens_per_s"] for r in rounds)
        record = {"via": via, "micro_batching": batching, "streams": streams,
                  "ttft_median_ms": 1000 * statistics.median(
                      statistics.median(r["ttft"]) for r in rounds),
                  "ttft_max_ms": 1000 * statistics.median(max(r["ttft"]) for r in rounds),
                  "tokens_per_s": speed, "tokens_per_s_per_stream": speed / streams}  # fmt: skip
        records.append(record)
        rows.append(list(record.values()))
    columns = ["via", "micro-batching", "streams", "TTFT median ms", "TTFT max ms", "tokens/s",
               "tokens/s a stream"]  # fmt: skip
    print_table(f"streaming generation, {args.tokens} new tokens a stream", columns, rows)
    settings = {"tokens": args.tokens, "rounds": args.rounds, "prompt": PROMPT, "run": run_dir,
                "threads": args.threads, "command": " ".join(sys.argv)}  # fmt: skip
    target = write_json("serve_streaming", {"settings": settings, "results": records}, args.json)
    print("wrote", target)


if __name__ == "__main__":
    main()
