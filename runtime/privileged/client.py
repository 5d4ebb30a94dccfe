"""The services' side of the privileged helper: one request per connection, progress, a reply.

The webapp and the updater CLI use it on a device; every refusal or failure is a HelperError
whose message is the helper's own words (or says the helper does not answer, and where).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from runtime.privileged.debug_ssh import DebugSshAction
from runtime.privileged.protocol import (
    ActivateRequest,
    DebugSshRequest,
    InstallRequest,
    Progress,
    RebootRequest,
    Reply,
)

LINE_TIMEOUT_S = 120.0  # between two lines: an install reports every MiB it writes
MAX_LINE_BYTES = 64 * 1024


class HelperError(RuntimeError):
    """The helper refused, failed, or does not answer; the message says which and why."""


class HelperClient:
    """Asks the privileged helper on its Unix socket."""

    def __init__(self, socket_path: Path, line_timeout_s: float = LINE_TIMEOUT_S) -> None:
        self._socket_path = socket_path
        self._timeout_s = line_timeout_s

    async def install(
        self,
        upload: str,
        *,
        activate: bool = False,
        progress: Callable[[str, float], None] | None = None,
    ) -> Reply:
        """Install the zip staged as `upload` in the helper's uploads directory."""
        request = InstallRequest(request="install", upload=upload, activate=activate)
        return await self._ask(request, progress)

    async def activate(self) -> Reply:
        """Activate the update the helper installed for one trial boot."""
        return await self._ask(ActivateRequest(request="activate"))

    async def reboot(self) -> Reply:
        """Reboot the machine."""
        return await self._ask(RebootRequest(request="reboot"))

    async def debug_ssh(self, action: DebugSshAction) -> Reply:
        """Start, stop or restart debug SSH, or ask its state (reply.debug_ssh)."""
        return await self._ask(DebugSshRequest(request="debug-ssh", action=action))

    async def ask_raw(self, line: bytes) -> Reply:
        """Send one line as it is (diagnostics and tests); the reply, refused or not."""
        return await self._exchange(line, None)

    async def _ask(
        self, request: BaseModel, progress: Callable[[str, float], None] | None = None
    ) -> Reply:
        reply = await self._exchange(request.model_dump_json().encode() + b"\n", progress)
        if not reply.ok:
            raise HelperError(reply.message)
        return reply

    async def _exchange(self, line: bytes, progress: Callable[[str, float], None] | None) -> Reply:
        path = self._socket_path
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=MAX_LINE_BYTES)
        except OSError as error:
            raise HelperError(f"the privileged helper does not answer on {path}: {error}") from None
        try:
            writer.write(line)
            await writer.drain()
            while True:
                answer = await asyncio.wait_for(reader.readline(), self._timeout_s)
                if not answer:
                    raise HelperError(f"the privileged helper on {path} closed without an answer")
                if answer.startswith(b'{"progress"'):
                    shown = Progress.model_validate_json(answer)
                    if progress is not None:
                        progress(shown.progress, shown.fraction)
                    continue
                return Reply.model_validate_json(answer)
        except (OSError, TimeoutError, ValidationError) as error:
            raise HelperError(f"the privileged helper on {path} failed: {error}") from None
        finally:
            writer.close()
