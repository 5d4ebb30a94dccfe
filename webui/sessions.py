"""Server-side login sessions and the per-client login lockout.

The cookie carries only a random session id; the role, the CSRF token and the timestamps stay
here. A login issues a new id (no session fixation); logout and idle timeout delete it. Failed
logins are counted per account and per client address; past the profile's limit both are locked
for `lockout_s` and the answer says until when. Both tables are bounded: only the device's own
accounts are counted by name (any other name counts against the client alone), and the client
table keeps MAX_CLIENTS entries, evicting the oldest unlocked client first.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from webui.roles import Role

COOKIE = "chargeos_session"
ID_BYTES = 32
MAX_ANONYMOUS_SESSIONS = 1024  # login forms opened but not used; the oldest goes first
# Failed-login counters of client addresses (~100 B each): more than a LAN has devices. An
# evicted client only regains its tries; the accounts' own counters are never evicted.
MAX_CLIENTS = 1024
ACCOUNTS = frozenset(role.value for role in Role)


@dataclass
class Session:
    """One browser's session: anonymous (login form only) or logged in with a role."""

    session_id: str
    csrf_token: str
    created_at: float
    last_seen: float
    role: Role | None = None


class SessionStore:
    """All sessions of this webapp process."""

    def __init__(self, clock: Callable[[], float], idle_timeout_s: float) -> None:
        self._clock = clock
        self._idle_timeout_s = idle_timeout_s
        self._sessions: dict[str, Session] = {}

    def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value (touching it), or None."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        now = self._clock()
        if session is None or now - session.last_seen > self._idle_timeout_s:
            self._sessions.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    def new(self, role: Role | None = None) -> Session:
        """A fresh session with its own id and CSRF token."""
        now = self._clock()
        session = Session(
            secrets.token_urlsafe(ID_BYTES), secrets.token_urlsafe(ID_BYTES), now, now, role
        )
        self._sessions[session.session_id] = session
        self._expire(now)
        if role is None:
            self._bound_anonymous()
        return session

    def is_live(self, session: Session) -> bool:
        """Whether `session` is still logged in (not logged out, not expired)."""
        return self._sessions.get(session.session_id) is session

    def _bound_anonymous(self) -> None:
        anonymous = [s for s in self._sessions.values() if s.role is None]
        for session in sorted(anonymous, key=lambda s: s.last_seen)[:-MAX_ANONYMOUS_SESSIONS]:
            del self._sessions[session.session_id]

    def login(self, previous: Session | None, role: Role) -> Session:
        """Replace `previous` by a new session for `role` (a new id at login)."""
        if previous is not None:
            self._sessions.pop(previous.session_id, None)
        return self.new(role)

    def logout(self, session: Session) -> None:
        """Forget the session on the server."""
        self._sessions.pop(session.session_id, None)

    def logout_role(self, role: Role, keep: Session | None = None) -> None:
        """End every session of `role` (after a password change), except `keep`."""
        for session_id, session in list(self._sessions.items()):
            if session.role is role and session is not keep:
                del self._sessions[session_id]

    def _expire(self, now: float) -> None:
        for session_id, session in list(self._sessions.items()):
            if now - session.last_seen > self._idle_timeout_s:
                del self._sessions[session_id]


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    last_failed: float = 0.0


@dataclass
class LoginGuard:
    """Counts failed logins per account and per client; locks both past the limit."""

    clock: Callable[[], float]
    limit: int
    lockout_s: float
    max_clients: int = MAX_CLIENTS
    _accounts: dict[str, _Failures] = field(default_factory=dict)  # only names in ACCOUNTS
    _clients: dict[str, _Failures] = field(default_factory=dict)

    def locked_for(self, account: str, client: str) -> float:
        """Seconds until this account or client may try again (0 = now)."""
        now = self.clock()
        until = max(
            self._accounts.get(account, _Failures()).locked_until,
            self._clients.get(client, _Failures()).locked_until,
        )
        return max(0.0, until - now)

    def failed(self, account: str, client: str) -> None:
        """Record a failed attempt; lock when the limit is reached."""
        now = self.clock()
        counted = [(self._clients, client)]
        if account in ACCOUNTS:
            counted.append((self._accounts, account))
        for table, key in counted:
            entry = table.setdefault(key, _Failures())
            entry.count += 1
            entry.last_failed = now
            if entry.count >= self.limit:
                entry.locked_until = now + self.lockout_s
                entry.count = 0
        self._bound_clients(now)

    def _bound_clients(self, now: float) -> None:
        """Forget clients past MAX_CLIENTS: unlocked ones first, the longest quiet first."""
        excess = len(self._clients) - self.max_clients
        if excess <= 0:
            return
        order = sorted(
            self._clients.items(),
            key=lambda item: (item[1].locked_until > now, item[1].last_failed),
        )
        for key, _ in order[:excess]:
            del self._clients[key]

    def tracked(self) -> tuple[int, int]:
        """How many accounts and clients the guard holds counters for."""
        return len(self._accounts), len(self._clients)

    def succeeded(self, account: str, client: str) -> None:
        """A good login clears the account's and the client's counters."""
        self._accounts.pop(account, None)
        self._clients.pop(client, None)
