"""NLU figures: parse latency through the served model, and training time on this machine.

Starts `rasa run` with the trained model (models/current.tar.gz, trained first if missing), sends
every held-out message to /model/parse from C concurrent clients, and prints p50/p90/p99 latency and
throughput; then times a full training from scratch (`--train`, default on) in a temporary directory
with a cold cache. Writes a latency histogram to reports/bench/nlu_latency.png. Last line: JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import paths  # noqa: E402
from bot.nlu_data import load_examples, plain  # noqa: E402
from common.processes import VENV_BIN, ServiceProcess, free_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure_parse(url: str, texts: list[str], concurrency: int, rounds: int) -> tuple[list[float], float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(rounds):
        for text in texts:
            queue.put_nowait(text)
    total = queue.qsize()
    latencies: list[float] = []

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            text = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post(f"{url}/model/parse", json={"text": text}) as response:
                await response.read()
                response.raise_for_status()
            latencies.append(time.perf_counter() - t0)
            if len(latencies) % 200 == 0:
                print(f"  {len(latencies)}/{total} parsed", flush=True)

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def histogram(latencies_ms: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(latencies_ms, bins=50, color="#2b7bb9")
    for q, style in ((0.5, "--"), (0.99, ":")):
        ax.axvline(percentile(latencies_ms, q), color="black", linestyle=style, label=f"p{int(q * 100)}")
    ax.set_xlabel("/model/parse latency (ms)")
    ax.set_ylabel("requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def time_training() -> float:
    from rasa.api import train

    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        result = train(str(paths.DOMAIN), str(paths.CONFIG), [str(paths.DATA)], out, force_training=True)
        elapsed = time.monotonic() - started
        if result.code != 0:
            raise SystemExit("training failed")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="times each held-out message is sent")
    parser.add_argument("--no-train", action="store_true", help="skip timing a full training")
    args = parser.parse_args()

    if not paths.MODEL.exists():
        from bot.train import train

        train()
    texts = [plain(e.text) for e in load_examples([paths.HELDOUT])]
    port = free_port()
    command = [str(VENV_BIN / "rasa"), "run", "--enable-api", "-m", str(paths.MODEL), "-p", str(port)]
    print(f"serving {paths.MODEL.name}; {len(texts)} held-out messages x {args.rounds}, {args.concurrency} clients")
    with ServiceProcess("bench-nlu-rasa", command, f"http://127.0.0.1:{port}/", startup_timeout=240):
        url = f"http://127.0.0.1:{port}"
        asyncio.run(measure_parse(url, texts[:20], 2, 1))  # warm-up
        latencies, wall = asyncio.run(measure_parse(url, texts, args.concurrency, args.rounds))
    ms = [1000 * x for x in latencies]
    figures: dict[str, float | int | None] = {
        "parse_requests": len(ms),
        "parse_p50_ms": round(percentile(ms, 0.50), 1),
        "parse_p90_ms": round(percentile(ms, 0.90), 1),
        "parse_p99_ms": round(percentile(ms, 0.99), 1),
        "parse_mean_ms": round(statistics.mean(ms), 1),
        "parse_per_second": round(len(ms) / wall, 1),
        "concurrency": args.concurrency,
        "train_seconds": None,
    }
    png = paths.REPORTS / "bench" / "nlu_latency.png"
    histogram(ms, png)
    print(
        f"parse latency: p50 {figures['parse_p50_ms']} ms, p90 {figures['parse_p90_ms']} ms, "
        f"p99 {figures['parse_p99_ms']} ms; {figures['parse_per_second']} parses/s; histogram: {png}"
    )
    if not args.no_train:
        print("timing a full training from scratch (progress below) ...", flush=True)
        figures["train_seconds"] = round(time_training(), 1)
        print(f"training time: {figures['train_seconds']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
