#!/usr/bin/env python3
"""TCP under load (RFC 7766): many idle connections and many slow but steady clients held open
against one DNS server, while new clients keep arriving; prints how many new clients were
answered and how fast.

    tcp_load.py PORT NAME [IDLE=2000] [ACTIVE=300] [SECONDS=10]

The idle connections never send anything; each active client sends one query every 5 s on its
own connection (the pattern that shut new clients out of kavling-dns before issue #22's fix);
a new client connects every 100 ms, asks one question and waits up to 2 s for the answer.
"""
import asyncio
import random
import resource
import struct
import sys
import time


def query(name: str, qid: int) -> bytes:
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(q)) + q


async def ask(reader, writer, name, qid, timeout):
    writer.write(query(name, qid))
    await writer.drain()
    head = await asyncio.wait_for(reader.readexactly(2), timeout)
    body = await asyncio.wait_for(reader.readexactly(struct.unpack(">H", head)[0]), timeout)
    return struct.unpack(">H", body[:2])[0] == qid and body[3] & 0x0F == 0


async def idle(port, held):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        held.append(w)
    except OSError:
        pass


async def active(port, name, stop):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(random.random() * 5)
        while time.monotonic() < stop:
            await ask(r, w, name, random.randrange(65536), 5)
            await asyncio.sleep(5)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass  # the server may close it: that is its right under load


async def newcomer(port, name):
    t = time.monotonic()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        ok = await ask(r, w, name, random.randrange(65536), 2 - (time.monotonic() - t))
        w.close()
        return time.monotonic() - t if ok else None
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        return None


async def main():
    port, name = int(sys.argv[1]), sys.argv[2]
    n_idle = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    n_active = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 10
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n_idle + n_active + 512)), hard))
    held = []
    for k in range(0, n_idle, 200):
        await asyncio.gather(*(idle(port, held) for _ in range(min(200, n_idle - k))))
    stop = time.monotonic() + seconds + 2
    actives = [asyncio.create_task(active(port, name, stop)) for _ in range(n_active)]
    await asyncio.sleep(1)
    results = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        results.append(asyncio.create_task(newcomer(port, name)))
        await asyncio.sleep(0.1)
    done = [await r for r in results]
    for a in actives:
        a.cancel()
    for w in held:
        w.close()
    answered = sorted(d for d in done if d is not None)
    pct = lambda p: answered[min(len(answered) - 1, int(p * (len(answered) - 1) + 0.5))] * 1000 if answered else float("nan")
    print(f"{len(answered)} {len(done)} {pct(0.5):.1f} {pct(0.99):.1f} {len(held)}")


asyncio.run(main())
