"""`python -m webui --data-dir DIR --default-profile FILE`: the web configurator (`webapp`).

HTTPS with the device's own certificate on the profile's port; plain HTTP only redirects.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from runtime import heartbeat
from runtime.boot.slots import SlotSet
from runtime.config.device_secrets import load_device_secrets
from runtime.config.device_tls import ensure_device_certificate, server_context
from runtime.config.errors import ProfileInvalid
from runtime.config.store import ConfigStore
from runtime.health import UPDATE_DIR
from runtime.privileged.protocol import HELPER_SOCKET
from runtime.version import chargeos_version
from webui.app import create_app
from webui.context import WebSettings
from webui.restarts import running_image

log = logging.getLogger("webui")


def redirect_app(https_port: int) -> web.Application:
    """Plain HTTP: every request is sent to the same path over HTTPS."""

    async def redirect(request: web.Request) -> web.StreamResponse:
        host = request.host.split(":")[0] if request.host else "localhost"
        port = "" if https_port == 443 else f":{https_port}"
        raise web.HTTPPermanentRedirect(f"https://{host}{port}{request.path_qs}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


async def serve(data_dir: Path, default_profile: Path) -> int:
    """Serve until SIGTERM or SIGINT."""
    try:
        store = await asyncio.to_thread(ConfigStore.open, data_dir / "profile.yaml")
    except ProfileInvalid as invalid:
        log.error("the active profile is invalid; not starting:\n%s", invalid)
        return 2
    profile = store.profile
    identity = (await asyncio.to_thread(load_device_secrets, data_dir)).charger_identity
    files = await asyncio.to_thread(ensure_device_certificate, data_dir, profile, identity)
    settings = WebSettings(
        data_dir=data_dir,
        evse_socket=data_dir / "run" / "evse.sock",
        supervisor_socket=data_dir / "run" / "supervisor.sock",
        version=chargeos_version(),
        uploads_dir=data_dir / "uploads",
        default_profile=default_profile,
        update_dir=data_dir / UPDATE_DIR,
        slots=SlotSet.on_device() if running_image() else None,
        helper_socket=HELPER_SOCKET if running_image() else None,
    )
    webui = profile.webui
    runners = [web.AppRunner(create_app(settings, store), access_log=None)]
    if webui.http_port is not None:
        runners.append(web.AppRunner(redirect_app(webui.https_port), access_log=None))
    for runner in runners:
        await runner.setup()
    host = str(webui.bind_address)
    await web.TCPSite(runners[0], host, webui.https_port, ssl_context=server_context(files)).start()
    if webui.http_port is not None:
        await web.TCPSite(runners[1], host, webui.http_port).start()
    log.info("web configurator on https://%s:%d", host, webui.https_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, set up logging and run."""
    parser = argparse.ArgumentParser(prog="python -m webui", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--default-profile",
        type=Path,
        required=True,
        help="the factory profile a reset to default restores (supervisord passes it)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    data_dir = args.data_dir.resolve()
    work = serve(data_dir, args.default_profile.resolve())
    return asyncio.run(heartbeat.while_beating(data_dir, work))


if __name__ == "__main__":
    sys.exit(main())
