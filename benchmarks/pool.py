"""CPU per request of httpx's connection pool against its idle connections (issue 38).

`python -m benchmarks.pool [WIDTH]`: bursts of WIDTH concurrent POSTs, then WIDTH one by one, to a local aiohttp
server in another process; the client's CPU time per request for PTB's pool (256 connections, every idle one kept
5 s) and for fewer idle connections kept. Why: httpcore checks each idle connection (a system call or two) twice per
request, so a pool that a burst grew costs every later request (`bot.telegram.app.KEEPALIVE_CONNECTIONS`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time

import httpx


def serve(port: int) -> None:
    from aiohttp import web

    async def h(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "result": {"message_id": 1}})

    app = web.Application()
    app.router.add_post("/x", h)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


async def client(port: int, limits: httpx.Limits, bursts: int, width: int) -> float:
    async with httpx.AsyncClient(limits=limits) as c:
        url = f"http://127.0.0.1:{port}/x"
        for _ in range(20):
            await asyncio.gather(*(c.post(url, json={"a": 1}) for _ in range(width)))
        cpu = time.process_time()
        for _burst in range(bursts):
            # a burst of `width`, then a trickle of single requests (what a bot does between getUpdates batches)
            await asyncio.gather(*(c.post(url, json={"a": 1}) for _ in range(width)))
            for _ in range(width):
                await c.post(url, json={"a": 1})
        n = bursts * width * 2
        return 1e6 * (time.process_time() - cpu) / n


if __name__ == "__main__":
    port = 18000 + os.getpid() % 1000
    p = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    p.start()
    time.sleep(1.5)
    width = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    variants = {
        "default (PTB: max_connections=256)": httpx.Limits(max_connections=256),
        "keepalive 16": httpx.Limits(max_connections=256, max_keepalive_connections=16),
        "keepalive 8": httpx.Limits(max_connections=256, max_keepalive_connections=8),
        "expiry 1s": httpx.Limits(max_connections=256, keepalive_expiry=1.0),
    }
    for round_ in range(2):
        for name, limits in variants.items():
            cpu = asyncio.run(client(port, limits, 30, width))
            print(round_, name, f"µs CPU/request: {cpu:.0f}", flush=True)
    p.terminate()
