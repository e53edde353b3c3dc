"""Benchmark of the WhatsApp channel against Rasa's REST channel, on the same model, in the same run.

    python bench/channel.py [--investors 40] [--messages 10] [--think-ms 1000] [--embedded] [--faults]

Starts the simulator and one Rasa server (channels `rest` and `whatsapp`; RabbitMQ + Redis unless
--embedded; webhooks through the gateway process `connectors.whatsapp.gateway` unless --no-gateway),
then has many investors talk concurrently (closed loop: each waits for the reply, then "types" for a
random 0..2x`--think-ms` before the next message; WhatsApp and REST rounds alternate) and prints:
  * webhook acknowledgement latency p50/p99 (measured by the simulator, i.e. by "Meta");
  * end-to-end latency p50/p99: webhook sent by the simulator -> first reply received by the simulator
    (REST: request sent -> response received by the benchmark);
  * messages per second sustained; lost and duplicated replies (each reply carries its idempotency key
    `<inbound message id>:<n>` in biz_opaque_callback_data, so every reply is traced to its message);
  * the REST channel's end-to-end p50/p99 for the same conversations, and the ratio WhatsApp/REST;
  * Rasa's CPU per message on each channel (/proc, all threads): what the channel costs the model's process.
The simulator stamps "webhook in" when the webhook request leaves it, and "reply" when the Graph API request
arrives; the benchmark follows only the replies on the simulator's live feed (`?direction=out`), so that the
instrument does not load the two cores it measures with every status change.
--faults adds a second run with 20 % injected throughput errors, a throughput cap of 20/s, Rasa killed (-9) and
restarted mid-load, and RabbitMQ restarted once (rabbitmqctl stop_app/start_app); it reports lost/duplicated
replies and the highest outbound rate the simulator saw.
A second comparison with no think time (`burst_*` figures) has every investor send at the same instant,
round after round: the worst case for acknowledgements (one event loop serves the whole burst) and the
saturated throughput of both channels. `--think-ms 0` makes the headline run a burst run too.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import paths  # noqa: E402
from common import infra  # noqa: E402
from common.processes import VENV_BIN, ServiceProcess, free_port  # noqa: E402

SCRIPT = ["hi", "thank you", "are you a bot?", "hello there", "bye"]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (all its threads), from /proc; 0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


class Replies:
    """Follows the simulator's live feed; resolves a future when the first reply to an inbound id arrives."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.first: dict[str, float] = {}
        self.keys: list[str] = []
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())
        await asyncio.sleep(0.2)

    async def _follow(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"{self.base}/_sim/events", params={"direction": "out"}) as resp:
                async for raw in resp.content:
                    line = raw.decode().strip()
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    record = event.get("record")
                    if event.get("event") != "record" or record["direction"] != "out":
                        continue
                    key = str(record["payload"].get("biz_opaque_callback_data", ""))
                    self.keys.append(key)
                    inbound = key.rsplit(":", 1)[0]
                    if inbound not in self.first:
                        self.first[inbound] = record["at"]
                        waiter = self.waiters.pop(inbound, None)
                        if waiter and not waiter.done():
                            waiter.set_result(record["at"])

    def wait(self, inbound_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if inbound_id in self.first:
            future.set_result(self.first[inbound_id])
        else:
            self.waiters[inbound_id] = future
        return future

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def think(think_ms: float) -> None:
    """An investor's pause before the next message (uniform, mean `think_ms`): arrivals are not in lockstep."""
    if think_ms > 0:
        await asyncio.sleep(random.uniform(0, 2 * think_ms) / 1000)


async def concurrently(investors: list[str], talk: Callable[[aiohttp.ClientSession, str], Awaitable[None]]) -> float:
    """Every investor's conversation at once on one HTTP session; returns the seconds it took."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await asyncio.gather(*(talk(session, i) for i in investors))
    return time.monotonic() - started


async def whatsapp_run(
    sim: str,
    investors: list[str],
    messages: int,
    replies: Replies,
    timeout: float = 120.0,
    first: int = 0,
    think_ms: float = 0.0,
) -> dict[str, Any]:
    acks: list[float] = []
    e2e: list[float] = []
    sent_ids: list[str] = []
    unanswered = 0

    async def investor(session: aiohttp.ClientSession, wa_id: str) -> None:
        nonlocal unanswered
        for n in range(first, first + messages):
            await think(think_ms)
            started = time.time()
            async with session.post(f"{sim}/_sim/inbound", json={"from": wa_id, "text": SCRIPT[n % len(SCRIPT)]}) as r:
                result = await r.json()
            msg_id = result["ids"][0]
            started = result.get("sent_at", started)  # webhook in -> reply at the simulator, one clock
            sent_ids.append(msg_id)
            if result["status"] == 200:
                acks.append(result["ack_ms"])
            try:
                at = await asyncio.wait_for(replies.wait(msg_id), timeout)
                e2e.append((at - started) * 1000)
            except asyncio.TimeoutError:
                unanswered += 1

    duration = await concurrently(investors, investor)
    return {"acks": acks, "e2e": e2e, "ids": sent_ids, "duration": duration, "unanswered": unanswered}


async def rest_run(
    rasa: str, investors: list[str], messages: int, first: int = 0, think_ms: float = 0.0
) -> dict[str, Any]:
    e2e: list[float] = []
    empty = 0

    async def investor(session: aiohttp.ClientSession, sender: str) -> None:
        nonlocal empty
        for n in range(first, first + messages):
            await think(think_ms)
            started = time.time()
            body = {"sender": sender, "message": SCRIPT[n % len(SCRIPT)]}
            async with session.post(f"{rasa}/webhooks/rest/webhook", json=body) as r:
                answer = await r.json()
            e2e.append((time.time() - started) * 1000)
            empty += not answer

    return {"e2e": e2e, "duration": await concurrently(investors, investor), "empty": empty}


def start_rasa(tmp: Path, env: dict[str, str], port: int) -> ServiceProcess:
    (tmp / "credentials.yml").write_text("rest:\nconnectors.whatsapp.channel.WhatsAppInput:\n")
    (tmp / "endpoints.yml").write_text('action_endpoint:\n  url: "http://127.0.0.1:1/webhook"\n')
    command = [
        str(VENV_BIN / "rasa"), "run", "--enable-api", "-m", str(paths.MODEL), "-p", str(port),
        "--credentials", str(tmp / "credentials.yml"), "--endpoints", str(tmp / "endpoints.yml"),
    ]  # fmt: skip
    return ServiceProcess("bench-rasa", command, f"http://127.0.0.1:{port}/", env=env, startup_timeout=300).start()


async def sim_call(sim: str, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, sim + path, json=body) as resp:
            return await resp.json()


def integrity(ids: list[str], replies: Replies) -> tuple[int, int]:
    answered = {k.rsplit(":", 1)[0] for k in replies.keys}
    lost = sum(1 for i in ids if i not in answered)
    duplicated = len(replies.keys) - len(set(replies.keys))
    return lost, duplicated


def durable_mode(args: argparse.Namespace) -> bool:
    """RabbitMQ + Redis unless --embedded or they are not running."""
    if args.embedded:
        return False
    try:
        infra.require_rabbitmq()
        infra.require_redis()
    except infra.ServiceUnavailable as exc:
        print(f"{exc}\n-> running the embedded mode instead", file=sys.stderr)
        return False
    return True


def start_ingress(args: argparse.Namespace, env: dict[str, str], durable: bool, sim_port: int,
                  rasa_port: int) -> tuple[ServiceProcess, ServiceProcess | None]:
    """The simulator and, durable, the gateway its webhooks go to (embedded: Rasa's own channel route)."""
    gateway_proc: ServiceProcess | None = None
    webhook = f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/webhook"
    if durable and not args.no_gateway:
        gateway_port = free_port()
        gateway_proc = ServiceProcess(
            "bench-whatsapp-gateway",
            [sys.executable, "-m", "connectors.whatsapp.gateway"],
            f"http://127.0.0.1:{gateway_port}/health",
            env={**env, "WHATSAPP_GATEWAY_PORT": str(gateway_port), "WHATSAPP_GATEWAY_HOST": "127.0.0.1"},
        ).start()
        webhook = f"http://127.0.0.1:{gateway_port}/webhooks/whatsapp/webhook"
    sim_proc = ServiceProcess(
        "bench-whatsapp-sim",
        [sys.executable, "-m", "standins.whatsapp_cloud"],
        f"http://127.0.0.1:{sim_port}/health",
        env={"WHATSAPP_SIM_PORT": str(sim_port), "WHATSAPP_SIM_WEBHOOK_URL": webhook},
    ).start()
    return sim_proc, gateway_proc


async def warm_up(args: argparse.Namespace, sim: str, rasa: str, replies: Replies) -> int:
    """Warm both channels; returns how many investor messages that sent."""
    print(f"warm-up; {args.investors} investors x {args.messages} messages per channel", file=sys.stderr)
    warm = [f"9190{i:08d}" for i in range(args.investors)]  # every connection pool as wide as the load
    await whatsapp_run(sim, warm, 1, replies)
    await rest_run(rasa, [f"r{w}" for w in warm], 1)
    # Every turn of the script once on each channel before measuring: the model's first encounter with an
    # input shape (a new sentence length, a longer dialogue) costs a one-off TensorFlow retrace of up to
    # ~1 s, which would otherwise land in the tail of whichever channel met that turn first.
    walkers = warm[:2]
    await whatsapp_run(sim, walkers, args.messages, replies, first=1)
    await rest_run(rasa, [f"r{w}" for w in walkers], args.messages, first=1)
    return len(warm) + len(walkers) * args.messages


async def headline(args: argparse.Namespace, sim: str, rasa: str, rasa_pid: int | None, replies: Replies,
                   warm_messages: int) -> dict[str, Any]:
    """WhatsApp against REST under the same load (and, with think time, a burst run), then integrity."""
    figures: dict[str, Any] = {"investors": args.investors, "think_ms": args.think_ms}
    runs = [("", args.think_ms, "9191", "9192")]
    if args.think_ms > 0:
        runs.append(("burst_", 0.0, "9193", "9194"))
    all_ids: list[str] = []
    for label, think_ms, wa_prefix, rest_prefix in runs:
        print(f"{label or 'headline '}run: think time {think_ms:.0f} ms", file=sys.stderr)
        wa_ids = [f"{wa_prefix}{i:08d}" for i in range(args.investors)]
        rest_ids = [f"{rest_prefix}{i:08d}" for i in range(args.investors)]
        part = await compare(sim, rasa, replies, wa_ids, rest_ids, args.messages, think_ms, rasa_pid)
        all_ids += part.pop("ids")
        figures |= {f"{label}{key}": value for key, value in part.items()}
    await asyncio.sleep(2.0)  # late duplicates would show up now
    lost, duplicated = integrity(all_ids, replies)
    stats = await sim_call(sim, "GET", "/_sim/stats")
    return figures | {
        "lost": lost,
        "duplicated": duplicated,
        "graph_requests": stats.get("graph_requests"),
        "status_webhooks": stats.get("webhooks_sent", 0) - len(all_ids) - warm_messages,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if not paths.MODEL.exists():
        raise SystemExit("no model: run `make model` first")
    durable = durable_mode(args)
    prefix = f"wabench{uuid.uuid4().hex[:6]}"
    env = {"WHATSAPP_PREFIX": prefix, "TF_CPP_MIN_LOG_LEVEL": "3", "LOG_LEVEL": "WARNING"}
    if durable:
        env |= {"AMQP_URL": infra.amqp_url(), "REDIS_URL": infra.redis_url()}
    else:
        env |= {"AMQP_URL": "", "REDIS_URL": ""}
    sim_port, rasa_port = free_port(), free_port()
    sim = f"http://127.0.0.1:{sim_port}"
    rasa = f"http://127.0.0.1:{rasa_port}"
    env["WHATSAPP_API_URL"] = f"{sim}/v21.0"
    sim_proc, gateway_proc = start_ingress(args, env, durable, sim_port, rasa_port)
    tmp = Path(tempfile.mkdtemp(prefix="wabench"))
    rasa_proc = start_rasa(tmp, env, rasa_port)
    figures: dict[str, Any] = {
        "mode": "rabbitmq+redis" if durable else "embedded",
        "webhook_ingress": "gateway" if gateway_proc else "rasa",
    }
    replies = Replies(sim)
    try:
        await replies.start()
        warm_messages = await warm_up(args, sim, rasa, replies)
        if args.only_faults:
            figures["faults"] = await fault_run(args, sim, rasa_proc, replies, durable)
            print_table(figures["faults"])
            return figures
        figures |= await headline(args, sim, rasa, rasa_proc.pid, replies, warm_messages)
        print_table(figures)
        if args.faults or args.only_faults:
            figures["faults"] = await fault_run(args, sim, rasa_proc, replies, durable)
            print_table(figures["faults"])
    finally:
        await replies.stop()
        rasa_proc.stop()
        sim_proc.stop()
        if gateway_proc:
            gateway_proc.stop()
        if durable:
            await purge(prefix, env)
    return figures


async def compare(
    sim: str,
    rasa: str,
    replies: Replies,
    wa_ids: list[str],
    rest_ids: list[str],
    messages: int,
    think_ms: float,
    rasa_pid: int | None = None,
) -> dict[str, Any]:
    """Alternate rounds (every investor sends message n on WhatsApp, then on REST; REST first on odd n) so
    that the background load of a shared machine hits both channels alike. Rasa's CPU is read from /proc
    around each round: what each channel costs the process that runs the model."""
    wa: dict[str, Any] = {"acks": [], "e2e": [], "ids": [], "duration": 0.0, "unanswered": 0, "cpu": 0.0}
    rest: dict[str, Any] = {"e2e": [], "duration": 0.0, "empty": 0, "cpu": 0.0}

    async def measured(total: dict[str, Any], run: Awaitable[dict[str, Any]]) -> None:
        before = cpu_seconds(rasa_pid)
        part = await run
        part["cpu"] = cpu_seconds(rasa_pid) - before
        for key, value in part.items():
            total[key] += value

    for n in range(messages):
        wa_round = measured(wa, whatsapp_run(sim, wa_ids, 1, replies, first=n, think_ms=think_ms))
        rest_round = measured(rest, rest_run(rasa, rest_ids, 1, first=n, think_ms=think_ms))
        for round_ in (wa_round, rest_round) if n % 2 == 0 else (rest_round, wa_round):  # who goes first alternates
            await round_
    return {
        "messages": len(wa["ids"]),
        "ack_p50_ms": pct(wa["acks"], 50),
        "ack_p99_ms": pct(wa["acks"], 99),
        "ack_over_1s_pct": round(100 * sum(a > 1000 for a in wa["acks"]) / max(len(wa["acks"]), 1), 2),
        "wa_e2e_p50_ms": pct(wa["e2e"], 50),
        "wa_e2e_p99_ms": pct(wa["e2e"], 99),
        "wa_msgs_per_s": round(len(wa["ids"]) / wa["duration"], 1),
        "rest_e2e_p50_ms": pct(rest["e2e"], 50),
        "rest_e2e_p99_ms": pct(rest["e2e"], 99),
        "rest_msgs_per_s": round(len(rest["e2e"]) / rest["duration"], 1),
        "wa_rasa_cpu_ms_per_msg": round(1000 * wa["cpu"] / max(len(wa["ids"]), 1), 1),
        "rest_rasa_cpu_ms_per_msg": round(1000 * rest["cpu"] / max(len(rest["e2e"]), 1), 1),
        "wa_over_rest_p50": round(statistics.median(wa["e2e"]) / statistics.median(rest["e2e"]), 3),
        "unanswered": wa["unanswered"],
        "ids": wa["ids"],
    }


async def fault_run(
    args: argparse.Namespace, sim: str, rasa_proc: ServiceProcess, replies: Replies, durable: bool
) -> dict[str, Any]:
    """20 % throughput errors, a 20/s cap, Rasa killed and restarted, RabbitMQ restarted once."""
    cap = 20
    started = time.monotonic()

    def log(event: str) -> None:
        events.append(f"{time.monotonic() - started:.0f}s {event}")
        print(f"  fault run: {events[-1]}", file=sys.stderr)

    events: list[str] = []
    await asyncio.to_thread(rasa_proc.stop)
    rasa_proc.env["WHATSAPP_THROUGHPUT_PER_SECOND"] = str(cap)
    await asyncio.to_thread(rasa_proc.start)
    log(f"rasa restarted with a cap of {cap}/s")
    await sim_call(sim, "POST", "/_sim/reset")
    await sim_call(sim, "POST", "/_sim/faults", {"throughput_error_rate": 0.2})
    ids = [f"9193{i:08d}" for i in range(args.investors)]
    load = asyncio.create_task(whatsapp_run(sim, ids, args.messages, replies, timeout=420))
    log("load started with 20% injected 130429")
    await asyncio.sleep(3)
    if durable:
        for step in ("stop_app", "start_app"):
            await asyncio.to_thread(subprocess.run, ["rabbitmqctl", step], check=True, capture_output=True, timeout=120)
        log("rabbitmq restarted (stop_app/start_app)")
        await asyncio.sleep(3)
    await asyncio.to_thread(rasa_proc.kill)
    log("rasa killed (-9)")
    await asyncio.to_thread(rasa_proc.start)
    log("rasa restarted")
    wa = await load
    log("load finished")
    await asyncio.sleep(3.0)
    lost, duplicated = integrity(wa["ids"], replies)
    stats = await sim_call(sim, "GET", "/_sim/stats")
    await sim_call(sim, "DELETE", "/_sim/faults")
    return {
        "events": events,
        "messages": len(wa["ids"]),
        "lost": lost,
        "duplicated": duplicated,
        "unanswered_within_timeout": wa["unanswered"],
        "cap_per_second": cap,
        "max_outbound_per_second": stats.get("max_requests_per_second"),
        "injected_130429": stats.get("errors", {}).get("130429", 0),
        "webhook_retries": stats.get("webhook_retries", 0),
        "wa_e2e_p50_ms": pct(wa["e2e"], 50),
        "wa_e2e_p99_ms": pct(wa["e2e"], 99),
    }


async def purge(prefix: str, env: dict[str, str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.whatsapp.conftest import purge_prefix

    partitions = int(os.environ.get("WHATSAPP_PARTITIONS", "16"))
    await purge_prefix(prefix, env.get("AMQP_URL"), env.get("REDIS_URL"), partitions=partitions)


def print_table(figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        if not isinstance(value, dict):
            print(f"  {key:28} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=int(os.environ.get("BENCH_INVESTORS", "40")))
    parser.add_argument("--messages", type=int, default=int(os.environ.get("BENCH_MESSAGES", "10")))
    parser.add_argument(
        "--think-ms",
        type=float,
        default=float(os.environ.get("BENCH_THINK_MS", "1000")),
        help="mean pause of an investor between the reply and their next message (0: all send at once)",
    )
    parser.add_argument("--embedded", action="store_true", help="no RabbitMQ/Redis (in-process queue and state)")
    parser.add_argument("--faults", action="store_true", help="add the fault run (kills Rasa, restarts RabbitMQ)")
    parser.add_argument("--only-faults", action="store_true", help="skip the comparison, run only the fault run")
    parser.add_argument("--no-gateway", action="store_true", help="webhooks into Rasa's own route, not the gateway")
    figures = asyncio.run(main_async(parser.parse_args()))
    print(json.dumps({"bench": "channel", **figures}))


if __name__ == "__main__":
    main()
