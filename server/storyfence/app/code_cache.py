"""A value derived from code alone (the tools/list answer: the JSON schemas pydantic builds from the tools'
signatures), cached between runs and keyed by the identity of every source file that could change it.

The key holds the Python version, the versions the caller names (pydantic, pydantic-core) and the identity
(inode, size, mtime) of every `.py` file under the source folders the caller names (storyfence itself, the
SDK's server and types packages): an upgrade, a reinstall or an edit in a checkout never meets an entry that
other code wrote. A file changed in the last two seconds means the entry is not written (its identity could
repeat). The stored value is JSON, checked again by the caller; anything it cannot trust is computed again.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from storyfence.adapters.cache_files import cache_dir, racy, read_value, source_identities, write_value

FORMAT = 1


class CodeCache:
    """One cached JSON value named `name`, valid while `sources` and `versions` are what they were."""

    def __init__(
        self, name: str, sources: Sequence[Path], versions: Mapping[str, str], *, folder: Path | None = None
    ) -> None:
        self._files = source_identities(sources)
        self.key: dict[str, object] = {
            "format": FORMAT,
            "name": name,
            "python": sys.version,
            "versions": dict(versions),
            "files": [[path, list(ident) if ident else None] for path, ident in self._files],
        }
        where = "\0".join(str(s) for s in sources).encode("utf-8", "surrogateescape")
        self.file = (folder or cache_dir()) / f"{name}-{hashlib.sha256(where).hexdigest()[:24]}.json"

    def load(self) -> object | None:
        """The stored value for exactly this code, or None."""
        return read_value(self.file, self.key)

    def store(self, value: object) -> None:
        """Keep `value` for the next run, unless a source changed too recently to be told apart later."""
        if racy(ident for _, ident in self._files):
            return
        write_value(self.file, self.key, value)
