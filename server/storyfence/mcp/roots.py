"""Which repo a session serves: `--root` (client roots may narrow it, never widen it), else the first
client root; with neither, a clear error. One service per resolved root, built on first use."""

from __future__ import annotations

import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import anyio

from storyfence.core.errors import InputError

if TYPE_CHECKING:  # the service and its models load with the first call, not to start serving
    from storyfence.app.service import StoryfenceService

log = logging.getLogger("storyfence")

ServiceFactory = Callable[[Path], "StoryfenceService"]


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
    """Resolves and caches the service for the roots a client announces. A root's service is built once, when
    first needed (`ready`: the explicit root's, built already); one that cannot be built (a policy that fails its
    checks) is not kept, and every call that needs it gets the reason."""

    def __init__(self, explicit: Path | None, factory: ServiceFactory, ready: StoryfenceService | None = None) -> None:
        self.explicit = explicit
        self.factory = factory
        self._services: dict[Path, StoryfenceService] = {}
        if ready is not None:
            self._services[ready.root] = ready
        # keyed by the session object itself, not id(): a finished session's id can be reused by a new one
        self._chosen: weakref.WeakKeyDictionary[object, Path] = weakref.WeakKeyDictionary()
        self._lock = anyio.Lock()
        self._building = threading.Lock()  # the event loop (a static resource) and worker threads both build
        self._announced: set[Path] = set()

    def _built(self, root: Path) -> StoryfenceService:
        """The service of `root`, built now unless it was (once: concurrent callers wait for the first)."""
        with self._building:
            service = self._services.get(root)
            if service is None:
                service = self.factory(root)
                self._services[service.root] = service
                self._services[root] = service
            return service

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
        """The service of the explicit root (built now if it was not yet), else of the most recently bound client
        root (None: no client root is bound yet)."""
        if self.explicit is not None:
            return self._built(self.explicit.resolve())
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
                service = await anyio.to_thread.run_sync(self._built, root)
            return service
