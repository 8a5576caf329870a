#!/usr/bin/env python3
"""Image data benchmark: upload and download of a large image through a private caas, against
the disk's own copy speed in the same filesystem.

Prints figures; asserts nothing. Loopback (127.0.0.1) only.

    .venv/bin/python bench/image.py                  # 1 GiB, 2 rounds
    .venv/bin/python bench/image.py --size-mib 256 --rounds 3

It starts ``caas up --data-dir <tmp> --port <free>`` (bench/_common.py's CaasServer, bcrypt
cost 4) and stops it with SIGTERM at the end. In the data dir's filesystem it writes a source
file of --size-mib MiB, then measures, each round:

  cp            ``cp SRC DST`` (the kernel's copy; page cache warm, no sync)
  python copy   read + write in 1 MiB blocks (what a streaming server does with the bytes)
  copy+fsync    the python copy, then fsync: the copy as far as the disk itself
  digests       md5 and sha512 of the source in two threads, no I/O: the CPU an upload must
                spend on Glance's checksum and os_hash_value, hence its ceiling on this machine
  upload        PUT /image/v2/images/{id}/file, the body sent with sendfile(2) over a raw
                socket (so the client costs little CPU), until the 204: the server receives,
                hashes (md5 + sha512) and writes the file
  download      GET .../file read into a reused buffer and dropped
  download+save the same, written to a file (what ``openstack image save`` does)

with MB/s (10^6 bytes), the server's CPU seconds and its memory (VmRSS, peak VmHWM) before and
after. The server's checksum is checked against the source's md5. Client and server share the
machine's cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from _common import CaasServer, Conn, cpu_seconds, fmt_mem, issue_token, mem_kib, parse_head

MIB = 1024 * 1024


def make_source(path: Path, size: int) -> str:
    """A file of ``size`` bytes (1 MiB random blocks, each made unique); its md5."""
    block = bytearray(os.urandom(MIB))
    md5 = hashlib.md5()
    with open(path, "wb") as f:
        for i in range(size // MIB):
            block[:8] = i.to_bytes(8, "big")
            f.write(block)
            md5.update(block)
    return md5.hexdigest()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def python_copy(src: Path, dst: Path, sync: bool = False) -> None:
    with open(src, "rb", buffering=0) as r, open(dst, "wb", buffering=0) as w:
        while block := r.read(MIB):
            w.write(block)
        if sync:
            os.fsync(w.fileno())


def digests(src: Path) -> None:
    """md5 and sha512 side by side, as the server computes them (hashlib releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    md5, sha = hashlib.md5(), hashlib.sha512()
    with open(src, "rb", buffering=0) as r, ThreadPoolExecutor(1) as pool:
        while block := r.read(MIB):
            pending = pool.submit(sha.update, block)
            md5.update(block)
            pending.result()


def request(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
    """A small JSON request over its own connection: (status, body)."""
    with Conn(port) as c:
        status, _, data = c.call(method, path, token, body)
    return status, data


def token(port: int, password: str) -> str:
    """An admin token, over its own connection."""
    with Conn(port) as c:
        return issue_token(c, password)[0]


def read_head(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status and headers of a response on ``s``, and the bytes already received after them."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    _, status, headers = parse_head(head)
    return status, headers, rest


def upload(port: int, tok: str, image_id: str, src: Path, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s, open(src, "rb") as f:
        s.sendall((f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {tok}\r\n"
                   f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
                   f"X-OpenStack-Image-Size: {size}\r\n\r\n").encode())
        s.sendfile(f)
        status, _, _ = read_head(s)
        if status != 204:
            raise RuntimeError(f"upload answered {status}")


def download(port: int, tok: str, image_id: str, out: Path | None) -> int:
    buf = bytearray(MIB)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall((f"GET /image/v2/images/{image_id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {tok}\r\n"
                   "\r\n").encode())
        status, headers, rest = read_head(s)
        if status != 200:
            raise RuntimeError(f"download answered {status}")
        left = int(headers["content-length"]) - len(rest)
        sink = open(out, "wb", buffering=0) if out else None
        try:
            if sink:
                sink.write(rest)
            while left > 0:
                n = s.recv_into(view, min(left, MIB))
                if not n:
                    raise ConnectionError("download cut short")
                if sink:
                    sink.write(view[:n])
                left -= n
        finally:
            if sink:
                sink.close()
    return int(headers["content-length"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024, help="image size in MiB (default 1024)")
    ap.add_argument("--rounds", type=int, default=2, help="measurement rounds (default 2)")
    args = ap.parse_args()
    size = args.size_mib * MIB
    caas = CaasServer()
    try:
        caas.start()
        pid, port = caas.pid, caas.port
        work = caas.data_dir.parent
        src, dst = work / "source.img", work / "copy.img"
        print(f"writing a {args.size_mib} MiB source file in {work} ...", flush=True)
        src_md5 = make_source(src, size)
        tok = token(port, caas.admin_password)
        # A small image first, so that what uploads load is loaded before the "before" figure.
        status, body = request(port, "POST", "/image/v2/images", tok, {"name": "warm-up", "disk_format": "raw",
                                                                        "container_format": "bare"})
        warm = json.loads(body)["id"]
        small = work / "small.img"
        small.write_bytes(os.urandom(4 * MIB))
        upload(port, tok, warm, small, 4 * MIB)
        download(port, tok, warm, None)
        idle = mem_kib([pid])
        print(f"\nserver idle after warm-up: {fmt_mem(idle)}\n", flush=True)

        rows: dict[str, list[tuple[float, float]]] = {}

        def record(name: str, seconds: float, cpu: float) -> None:
            rows.setdefault(name, []).append((seconds, cpu))
            print(f"  {name:<14} {size / seconds / 1e6:8.1f} MB/s  ({seconds:6.2f} s, server CPU {cpu:5.2f} s)",
                  flush=True)

        after_upload = after_download = idle
        for rnd in range(1, args.rounds + 1):
            print(f"round {rnd}", flush=True)
            dst.unlink(missing_ok=True)
            record("cp", timed(lambda: subprocess.run(["cp", str(src), str(dst)], check=True)), 0.0)
            dst.unlink()
            record("python copy", timed(lambda: python_copy(src, dst)), 0.0)
            dst.unlink()
            record("copy+fsync", timed(lambda: python_copy(src, dst, sync=True)), 0.0)
            dst.unlink()
            record("digests", timed(lambda: digests(src)), 0.0)
            status, body = request(port, "POST", "/image/v2/images", tok,
                                   {"name": f"bench-{rnd}", "disk_format": "raw", "container_format": "bare"})
            image_id = json.loads(body)["id"]
            c0 = cpu_seconds([pid])
            t = timed(lambda: upload(port, tok, image_id, src, size))
            record("upload", t, cpu_seconds([pid]) - c0)
            after_upload = mem_kib([pid])
            shown = json.loads(request(port, "GET", f"/image/v2/images/{image_id}", tok)[1])
            if shown["checksum"] != src_md5 or shown["size"] != size:
                print(f"  !! the server's checksum {shown['checksum']} / size {shown['size']} do not match "
                      f"{src_md5} / {size}")
            c0 = cpu_seconds([pid])
            t = timed(lambda: download(port, tok, image_id, None))
            record("download", t, cpu_seconds([pid]) - c0)
            c0 = cpu_seconds([pid])
            t = timed(lambda: download(port, tok, image_id, dst))
            record("download+save", t, cpu_seconds([pid]) - c0)
            after_download = mem_kib([pid])
            dst.unlink()
            request(port, "DELETE", f"/image/v2/images/{image_id}", tok)

        best = {name: min(s for s, _ in vals) for name, vals in rows.items()}
        mbps = {name: size / s / 1e6 for name, s in best.items()}
        print("\n==== figures (best of %d rounds, %d MiB, %d CPUs shared by client and server) " % (
            args.rounds, args.size_mib, os.cpu_count()) + "=" * 20)
        local = ("cp", "python copy", "copy+fsync", "digests")
        for name in rows:
            cpu = min(c for s, c in rows[name] if s == best[name])
            extra = f"  server CPU {cpu:.2f} s" if name not in local else ""
            print(f"{name:<14} {mbps[name]:8.1f} MB/s{extra}")
        print()
        for name in ("upload", "download", "download+save"):
            ratios = "  ".join(f"{mbps[name] / mbps[ref]:.2f} of {ref}" for ref in local)
            print(f"{name:<14} {ratios}")
        print(f"server memory idle:           {fmt_mem(idle)}")
        print(f"server memory after upload:   {fmt_mem(after_upload)}")
        print(f"server memory after download: {fmt_mem(after_download)}")
    finally:
        for p in ("source.img", "copy.img", "small.img"):
            try:
                (caas.data_dir.parent / p).unlink()
            except OSError:
                pass
        caas.stop()
        shutil.rmtree(caas.tmp.name, ignore_errors=True)


if __name__ == "__main__":
    main()
