#!/usr/bin/env python3
"""How the web configurator holds up under load while the simulated car charges.

Starts the whole stack (sim, evse, webapp under supervisord, as `make run`) in a temporary data
directory on free loopback ports, plugs the simulated car in and presents the owner's card, logs
in, then sends an open-loop load (a fixed rate, latency counted from each request's scheduled
time) to GET /general. The same load then goes to a bare aiohttp "hello" handler served over
HTTPS with the same certificate in its own process. Prints p50/p99 of both, their ratio, and the
webapp's RSS and CPU. Only 127.0.0.1 is used.
Run from the repository root: `.venv/bin/python bench/webui_load.py [--rate 200] [--seconds 30]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proc_stat import cpu_seconds  # noqa: E402
from tests.webui.stack import Stack, free_port, running_stack  # noqa: E402

OWNER = "FB433810"  # on the local card list of profiles/simulated.yaml
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
REQUEST_TIMEOUT_S = 10.0
WARMUP_S = 1.0


@dataclass(frozen=True)
class LoadResult:
    """What one open-loop run measured."""

    latencies_s: list[float]
    errors: int
    sent: int
    elapsed_s: float

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of the answered requests fall."""
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def line(self, name: str) -> str:
        """One summary line."""
        return (
            f"{name:<34} p50 {self.percentile(0.5) * 1000:7.2f} ms   p99"
            f" {self.percentile(0.99) * 1000:7.2f} ms   mean"
            f" {statistics.fmean(self.latencies_s or [0.0]) * 1000:7.2f} ms   errors"
            f" {self.errors}/{self.sent}   {self.sent / self.elapsed_s:6.1f} req/s"
        )


async def open_loop(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float, expect: str
) -> LoadResult:
    """GET `url` at `rate` per second for `seconds`; latency from each scheduled send time."""
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            async with session.get(url, allow_redirects=False) as response:
                body = await response.text()
                if response.status != 200 or expect not in body:
                    errors += 1
                    return
        except (aiohttp.ClientError, TimeoutError):
            errors += 1
            return
        latencies.append(time.perf_counter() - scheduled)

    count = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return LoadResult(latencies, errors, count, time.perf_counter() - start)


def client_session(certificate: Path) -> aiohttp.ClientSession:
    """A keep-alive HTTPS client that trusts only the device certificate."""
    context = ssl.create_default_context(cafile=str(certificate))
    connector = aiohttp.TCPConnector(ssl=context, limit=100)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    # unsafe: the session cookie comes from an IP address (127.0.0.1)
    jar = aiohttp.CookieJar(unsafe=True)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=jar)


async def log_in(session: aiohttp.ClientSession, stack: Stack) -> None:
    """Log in as the owner (EV) through the login form."""
    async with session.get(f"{stack.base_url}/login") as response:
        found = CSRF_META.search(await response.text())
    if found is None:
        raise SystemExit("the login page carries no CSRF token")
    form = {"csrf_token": found.group(1), "user": "ev", "password": stack.passwords["ev"]}
    async with session.post(
        f"{stack.base_url}/login", data=form, allow_redirects=False
    ) as response:
        if response.status != 303:
            raise SystemExit(f"login failed: HTTP {response.status}")


@dataclass(frozen=True)
class ProcessUse:
    """Memory and CPU time of a process at one instant."""

    rss_kb: int
    peak_rss_kb: int
    cpu_s: float


def process_use(pid: int) -> ProcessUse:
    """VmRSS, VmHWM from /proc/<pid>/status and user+system time from /proc/<pid>/stat."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return ProcessUse(
        int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0]), cpu_seconds(pid)
    )


def serve_bare(port: int, certificate: Path, key: Path) -> None:
    """The reference: an aiohttp "hello" handler over HTTPS (run in its own process)."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello charging")

    app = web.Application()
    app.router.add_get("/hello", hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None)


def start_bare(stack: Stack) -> tuple[subprocess.Popen[bytes], int]:
    """Start the bare server process with the device's certificate; (process, port)."""
    port = free_port()
    key = stack.certificate.with_name("key.pem")
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port), str(stack.certificate), str(key)]
    )
    return process, port


async def wait_for(session: aiohttp.ClientSession, url: str, timeout_s: float = 15.0) -> None:
    """Poll `url` until it answers 200 (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout_s:g} s")


def charge(stack: Stack, timeout_s: float = 20.0) -> None:
    """Plug the simulated car in, present the owner's card, wait until it charges."""
    stack.sim("plug")
    stack.sim("card", OWNER)
    deadline = time.monotonic() + timeout_s
    while stack.evse_state() != "charging":
        if time.monotonic() > deadline:
            raise SystemExit(f"the car did not start charging in {timeout_s:g} s")
        time.sleep(0.2)


async def measure(stack: Stack, rate: float, seconds: float) -> None:
    """Both loads in one run, then the summary."""
    webapp_pid = stack.pid_of("webapp")
    bare, bare_port = start_bare(stack)
    try:
        async with client_session(stack.certificate) as session:
            await log_in(session, stack)
            general = f"{stack.base_url}/general"
            hello = f"https://127.0.0.1:{bare_port}/hello"
            await wait_for(session, hello)
            print(f"warming up for {WARMUP_S:g} s each ...", flush=True)
            await open_loop(session, general, rate, WARMUP_S, "charging")
            await open_loop(session, hello, rate, WARMUP_S, "hello")
            before = process_use(webapp_pid)
            print(f"loading GET /general at {rate:g}/s for {seconds:g} s ...", flush=True)
            webapp = await open_loop(session, general, rate, seconds, "charging")
            after = process_use(webapp_pid)
            print(f"loading the bare handler at {rate:g}/s for {seconds:g} s ...", flush=True)
            reference = await open_loop(session, hello, rate, seconds, "hello")
            bare_use = process_use(bare.pid)
    finally:
        bare.terminate()
        bare.wait(timeout=10)
    report(webapp, reference, before, after, bare_use, stack)


def report(
    webapp: LoadResult,
    reference: LoadResult,
    before: ProcessUse,
    after: ProcessUse,
    bare_use: ProcessUse,
    stack: Stack,
) -> None:
    """Print the figures."""
    print()
    print(webapp.line("webapp GET /general (charging)"))
    print(reference.line("bare aiohttp hello over HTTPS"))
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        ratio = webapp.percentile(fraction) / reference.percentile(fraction)
        print(f"ratio webapp / bare {name}: {ratio:.1f}x")
    cpu = (after.cpu_s - before.cpu_s) / webapp.elapsed_s * 100
    print(
        f"webapp RSS {before.rss_kb / 1024:.1f} MiB before the load, {after.rss_kb / 1024:.1f}"
        f" MiB after (peak {after.peak_rss_kb / 1024:.1f} MiB); CPU {cpu:.0f} % of one core"
        " during the load"
    )
    print(f"bare server RSS {bare_use.rss_kb / 1024:.1f} MiB")
    print(f"evse state at the end: {stack.evse_state()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each load")
    parser.add_argument(
        "--serve-bare", nargs=3, metavar=("PORT", "CERT", "KEY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve_bare:
        port, certificate, key = args.serve_bare
        serve_bare(int(port), Path(certificate), Path(key))
        return 0
    if not 0 < args.rate <= 2000 or not 0 < args.seconds <= 600:
        parser.error("keep the load bounded: 0 < rate <= 2000 and 0 < seconds <= 600")
    with (
        tempfile.TemporaryDirectory(prefix="webui-load-") as directory,
        running_stack(Path(directory)) as stack,
    ):
        charge(stack)
        print(f"stack up on {stack.base_url}; the simulated car is charging", flush=True)
        asyncio.run(measure(stack, args.rate, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
