#!/usr/bin/env python3
"""TCP forwarder between two network namespaces.

The local Pusat Data's node (containerd, kubelet, kube-proxy, the pods) lives in a network
namespace of its own, so its iptables rules and ports never touch the host. The control plane
listens only on the host's 127.0.0.1, which the node cannot reach; the node's ingress listens
only inside its namespace, which the host's loopback cannot reach. This bridges exactly the
listed ports, nothing else.

Usage: forward.py --listen-ns PATH|- --connect-ns PATH|- LISTEN_ADDR:PORT=CONNECT_ADDR:PORT...
"-" means the namespace the process started in.

A socket keeps the namespace it was created in, so: bind every listener in the listen
namespace, then move this (single) thread into the connect namespace for every connection.
"""
import argparse
import asyncio
import ctypes
import os
import socket
import sys

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


# The namespace this process started in, kept open so "-" can be re-entered after a move.
HOME_NS = os.open("/proc/self/ns/net", os.O_RDONLY)


def enter(ns_path):
    fd = os.dup(HOME_NS) if ns_path == "-" else os.open(ns_path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            sys.exit(f"forward: cannot enter network namespace {ns_path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def split(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


def handler(target):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


async def serve(pairs, host_ns, connect_ns):
    enter(host_ns)
    socks = []
    for listen, target in pairs:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(split(listen))
        except OSError as e:
            sys.exit(f"forward: cannot listen on {listen}: {e.strerror}")
        s.listen(512)
        s.setblocking(False)
        socks.append((s, split(target)))
    enter(connect_ns)
    servers = [await asyncio.start_server(handler(t), sock=s) for s, t in socks]
    print("forwarding " + ", ".join(f"{l} -> {t}" for l, t in pairs), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen-ns", default="-")
    ap.add_argument("--connect-ns", default="-")
    ap.add_argument("pairs", nargs="+", metavar="LISTEN=CONNECT")
    a = ap.parse_args()
    pairs = [tuple(p.split("=", 1)) for p in a.pairs]
    asyncio.run(serve(pairs, a.listen_ns, a.connect_ns))


if __name__ == "__main__":
    main()
