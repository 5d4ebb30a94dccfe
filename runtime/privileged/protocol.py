"""What a client may ask the privileged helper, and what it answers: one JSON line per request.

A request is one of four narrow, validated shapes; anything else is refused with a message that
names the field and says what was expected. While an install runs, the helper sends progress
lines; the last line is always a Reply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# A file the webapp staged in the helper's uploads directory: a plain name, never a path.
UPLOAD_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.zip$"
MAX_REQUEST_BYTES = 4096


class InstallRequest(BaseModel):
    """Verify a staged update zip, then write it into the inactive slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: Literal["install"]
    upload: str = Field(pattern=UPLOAD_NAME_PATTERN, description="Staged zip in the uploads dir")
    activate: bool = Field(False, description="Activate for one trial boot once installed")


class ActivateRequest(BaseModel):
    """Activate the update this helper installed for one trial boot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: Literal["activate"]


class RebootRequest(BaseModel):
    """Reboot the machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: Literal["reboot"]


class DebugSshRequest(BaseModel):
    """Start, stop or restart debug SSH (never enabled: off at every boot), or report it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: Literal["debug-ssh"]
    action: Literal["start", "stop", "restart", "status"]


AnyRequest = InstallRequest | ActivateRequest | RebootRequest | DebugSshRequest
Request = Annotated[AnyRequest, Field(discriminator="request")]
REQUESTS: TypeAdapter[AnyRequest] = TypeAdapter(Request)
REQUEST_NAMES = ("install", "activate", "reboot", "debug-ssh")


class Progress(BaseModel):
    """An install's step and how far the whole install is (0..1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    progress: str
    fraction: float = Field(ge=0, le=1)


class Reply(BaseModel):
    """The outcome of one request: ok, or refused/failed with the reason in plain words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    message: str
    version: str | None = None  # install: the installed update's version
    target_slot: Literal["A", "B"] | None = None  # install: the slot it was written to
    activated: bool = False
    debug_ssh: str | None = None  # debug-ssh: systemd's state of the unit (active, inactive, ...)


class RequestInvalid(ValueError):
    """A request the helper refuses before doing anything; the message says what and where."""


def parse_request(line: bytes) -> AnyRequest:
    """The request in one JSON line; RequestInvalid names the field and what it must be."""
    try:
        return REQUESTS.validate_json(line)
    except ValidationError as error:
        raise RequestInvalid(_explain(error)) from None


def _explain(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        context = problem.get("ctx", {})
        if problem["type"] == "union_tag_invalid":
            problems.append(
                f"request: {context.get('tag')!r} is not a request this helper serves;"
                f" expected one of: {', '.join(REQUEST_NAMES)}"
            )
        elif problem["type"] == "union_tag_not_found":
            problems.append(f"request: missing; expected one of: {', '.join(REQUEST_NAMES)}")
        else:
            # loc starts with the request's name (the union's tag): name the field inside it
            where = ".".join(str(part) for part in problem["loc"]) or "(the request)"
            problems.append(f"{where}: {problem['msg']}")
    return "refused: " + "; ".join(problems)


# On the image, under the helper unit's RuntimeDirectory.
HELPER_SOCKET = Path("/run/chargeos-privileged/helper.sock")
