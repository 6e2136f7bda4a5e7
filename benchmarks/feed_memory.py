"""Memory of one idle MarketFeed (Python heap, tracemalloc): N feeds, one watcher each, no trades.

    python -m benchmarks.feed_memory [N]
"""
import asyncio, tracemalloc, gc, sys

from actors.feed_hub import FeedHub, FeedRouter, Subscribe
from engine.brokers.sim import SimulatedMarket
from engine.runtime import ActorSystem, ChildSpec, ManualClock, Supervisor
class Sink(Supervisor):
    async def receive(self, m): return None
async def main(n=2000):
    clock = ManualClock(); system = ActorSystem(clock=clock)
    source = SimulatedMarket(clock, trades_per_s=0.05, quotes_per_s=0.05); router = FeedRouter()
    feeds = system.spawn("/feeds", lambda: FeedHub(source, router, grace_s=5, history=600, feed_spec=ChildSpec()))
    sink = system.spawn("/sink", Sink)
    await source.start(router); await clock.settle()
    gc.collect(); tracemalloc.start(); before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        feeds.tell(Subscribe(f"{i:06d}", "trade", sink, wire=True))
    await clock.advance(30)
    gc.collect(); after = tracemalloc.get_traced_memory()[0]
    snap = tracemalloc.take_snapshot()
    print(f"{(after-before)/n/1024:.1f} KB per idle feed (python heap, tracemalloc)")
    for st in snap.statistics("filename")[:8]: print(st)
if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
