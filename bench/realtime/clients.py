"""One client process of bench.realtime: `count` WebSockets signed in as consecutive Telegram
users, recording when each `bench` event arrives.

    python -m bench.realtime.clients <base url> <bot token> <first telegram id> <count>

Prints `ready` once every socket got its `ready`, then, when its stdin closes, one JSON line:
{"received": [[event id, unix time received], ...], "closed": n}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

from sandbox.initdata import sign_init_data


async def _socket(
    http: aiohttp.ClientSession,
    base: str,
    token: str,
    telegram_id: int,
    received: list[tuple[int, float]],
    ready: asyncio.Event,
    counter: list[int],
    total: int,
    closed: list[int],
) -> None:
    user: dict[str, Any] = {"id": telegram_id, "first_name": f"B{telegram_id}"}
    signed_in = False
    while True:
        ws = await http.ws_connect(base + "/api/v1/ws", max_msg_size=0)
        await ws.send_json({"type": "auth", "initData": sign_init_data(token, user)})
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            at = time.time()
            data = json.loads(message.data)
            if data.get("type") == "ready":
                # Nothing to resume: a ping ends the wait for a `resume` (live events are
                # held back for up to a second after `ready` for one).
                await ws.send_json({"type": "ping"})
                signed_in = True
                counter[0] += 1
                if counter[0] == total:
                    ready.set()
            elif data.get("type") == "bench" and "id" in data:
                received.append((int(data["id"]), at))
        if signed_in:
            closed.append(ws.close_code or 0)
            return
        # Refused while the server was busy signing the others up (1011): again, later.
        await asyncio.sleep(1.0)


async def main() -> None:
    base, token, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    received: list[tuple[int, float]] = []
    ready = asyncio.Event()
    counter = [0]
    closed: list[int] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = []
        for n in range(count):
            tasks.append(
                asyncio.create_task(
                    _socket(http, base, token, first + n, received, ready, counter, count, closed)
                )
            )
            if n % 10 == 9:
                # Sign-ups in waves: each is a user row, a welcome bonus and a cap check.
                await asyncio.sleep(0.25)
        await ready.wait()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"received": received, "closed": len(closed)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
