"""Benchmark 1: messages per second through tell → receive, against a bare
asyncio.Queue loop doing the same work, one-to-one and fanned out to 1,000.

    python -m benchmarks.runtime [--messages N] [--fanout K] [--repeat R] [--json]

Both sides get the same messages in the same batches (the producer yields to
the loop every ``batch`` messages, as a feed does between upstream frames), do
the same work per message (add an integer), and their totals are checked equal.
The figure that matters is the ratio actor/queue, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time

import msgspec

from engine.runtime import Actor, ActorSystem, MailboxSpec


class Add(msgspec.Struct, frozen=True):
    n: int


class Total(msgspec.Struct, frozen=True):
    pass


class Summer(Actor):
    mailbox = MailboxSpec(limit=4096)

    def __init__(self) -> None:
        self.total = 0

    async def receive(self, msg: Add | Total) -> int | None:
        if type(msg) is Add:
            self.total += msg.n
            return None
        return self.total


async def queue_side(messages: list[Add], consumers: int, batch: int) -> tuple[float, int]:
    queues = [asyncio.Queue(maxsize=4096) for _ in range(consumers)]
    totals = [0] * consumers
    done = asyncio.Event()
    remaining = [len(messages) * consumers]

    async def consume(i: int, queue: asyncio.Queue) -> None:
        while True:
            msg = await queue.get()
            totals[i] += msg.n
            remaining[0] -= 1
            if not remaining[0]:
                done.set()

    tasks = [asyncio.create_task(consume(i, q)) for i, q in enumerate(queues)]
    await asyncio.sleep(0)
    start = time.perf_counter()
    for k, msg in enumerate(messages, 1):
        for q in queues:
            q.put_nowait(msg)
        if k % batch == 0:
            await asyncio.sleep(0)
    await done.wait()
    elapsed = time.perf_counter() - start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return elapsed, sum(totals)


async def actor_side(messages: list[Add], consumers: int, batch: int) -> tuple[float, int]:
    system = ActorSystem()
    refs = [system.spawn(f"/s{i}", Summer) for i in range(consumers)]
    await asyncio.sleep(0)
    start = time.perf_counter()
    for k, msg in enumerate(messages, 1):
        for ref in refs:
            ref.tell(msg)
        if k % batch == 0:
            await asyncio.sleep(0)
    totals = await asyncio.gather(*(ref.ask(Total(), 60) for ref in refs))  # barrier: all handled
    elapsed = time.perf_counter() - start
    await system.shutdown(5)
    return elapsed, sum(totals)


async def measure(messages: int, consumers: int, batch: int, repeat: int) -> dict[str, float]:
    msgs = [Add(i % 7) for i in range(messages)]
    q_rates, a_rates = [], []
    for _ in range(repeat):  # interleaved, so both sides see the same machine noise
        q_time, q_total = await queue_side(msgs, consumers, batch)
        a_time, a_total = await actor_side(msgs, consumers, batch)
        if q_total != a_total:
            raise AssertionError(f"outputs differ: queue {q_total} vs actors {a_total}")
        delivered = messages * consumers
        q_rates.append(delivered / q_time)
        a_rates.append(delivered / a_time)
    q, a = statistics.median(q_rates), statistics.median(a_rates)
    return {"consumers": consumers, "messages": messages * consumers,
            "queue_msgs_per_s": round(q), "actor_msgs_per_s": round(a), "ratio": round(a / q, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000, help="messages per run (one-to-one)")
    parser.add_argument("--fanout", type=int, default=1000, help="consumers in the fan-out case")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256, help="messages between yields to the loop")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runner = asyncio.run
    if not args.no_uvloop:
        import uvloop

        runner = uvloop.run

    async def both() -> list[dict[str, float]]:
        one = await measure(args.messages, 1, args.batch, args.repeat)
        fan = await measure(max(1, args.messages // args.fanout), args.fanout, 1, args.repeat)
        return [one, fan]

    rows = runner(both())
    meta = {"python": platform.python_version(), "cores": __import__("os").cpu_count(),
            "uvloop": not args.no_uvloop}
    if args.json:
        print(json.dumps({"machine": meta, "results": rows}))
    else:
        print(f"machine: {meta}")
        print(f"{'consumers':>9} {'messages':>9} {'queue msg/s':>12} {'actor msg/s':>12} {'ratio':>6}")
        for r in rows:
            print(f"{r['consumers']:>9} {r['messages']:>9} {r['queue_msgs_per_s']:>12,} "
                  f"{r['actor_msgs_per_s']:>12,} {r['ratio']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
