"""Which repo a session serves: `--root` (client roots may narrow it, never widen it), else the first
client root; with neither, a clear error. One service per resolved root, built on first use."""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

import anyio

from storyfence.app.service import StoryfenceService
from storyfence.core.errors import InputError

log = logging.getLogger("storyfence")

ServiceFactory = Callable[[Path], StoryfenceService]


def root_from_uri(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def choose_root(explicit: Path | None, client_roots: Sequence[Path]) -> Path:
    """The served root: a client root inside `explicit` narrows it; outside it is ignored."""
    if explicit is not None:
        base = explicit.resolve()
        for candidate in client_roots:
            real = candidate.resolve()
            if real != base and real.is_dir() and real.is_relative_to(base):
                return real
        return base
    for candidate in client_roots:
        if candidate.is_dir():
            return candidate.resolve()
    raise InputError(
        "no repo root: start storyfence with --root PATH (or STORYFENCE_ROOT), or use a client that sends MCP roots"
    )


class Binding:
    """Resolves and caches the service for the roots a client announces."""

    def __init__(self, explicit: Path | None, factory: ServiceFactory, ready: StoryfenceService | None = None) -> None:
        self.explicit = explicit
        self.factory = factory
        self._services: dict[Path, StoryfenceService] = {}
        if ready is not None:
            self._services[ready.root] = ready
        # keyed by the session object itself, not id(): a finished session's id can be reused by a new one
        self._chosen: weakref.WeakKeyDictionary[object, Path] = weakref.WeakKeyDictionary()
        self._lock = anyio.Lock()
        self._announced: set[Path] = set()

    async def _client_roots(self, session: object, supports_roots: bool) -> list[Path]:
        if not supports_roots:
            return []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # roots are deprecated in the newest protocol, still sent by clients
                result = await session.list_roots()  # type: ignore[attr-defined]
        except Exception as exc:  # a client that advertises roots but fails to answer: fall back to --root
            log.warning("client roots unavailable: %r", exc)
            return []
        roots = [root_from_uri(str(r.uri)) for r in result.roots]  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportUnknownVariableType]
        return [r for r in roots if r is not None]

    def current(self) -> StoryfenceService | None:
        """The service of the explicit root, else of the most recently bound client root."""
        if self.explicit is not None:
            service = self._services.get(self.explicit.resolve())
            if service is not None:
                return service
        return next(reversed(self._services.values()), None)

    async def service(self, session: object, supports_roots: bool) -> StoryfenceService:
        # the SDK builds a session object per request; the client's connection is what lasts (its roots are asked,
        # and the root it gets is said, once per connection, not once per call). The SDK keeps it private: without
        # it (another SDK version) each request is its own key, which is slower, never wrong
        key = getattr(session, "_connection", None) or session
        async with self._lock:
            root = self._chosen.get(key)
            if root is None:
                root = choose_root(self.explicit, await self._client_roots(session, supports_roots))
                self._chosen[key] = root
                if root not in self._announced:
                    self._announced.add(root)
                    log.info("session serves %s", root)
            service = self._services.get(root)
            if service is None:
                service = await anyio.to_thread.run_sync(self.factory, root)
                self._services[service.root] = service
                self._services[root] = service
            return service
