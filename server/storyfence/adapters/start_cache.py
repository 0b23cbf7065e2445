"""What `storyfence serve --root` may know at start without loading the policy: the server instructions for it,
kept from the last start whose policy was loaded and passed every check with exactly the same inputs.

An entry is used only while every input of that load still has the identity it had (inode, size, mtime_ns,
ctime_ns, device): storyfence's own modules and packaged policies, the repo's policy file (or --policy's), and
every file read and folder listed to find the workspace packages and learn the layout (adapters.reads). Nothing
modified within the last two seconds is cached against.

With an entry, the server answers the handshake and tools/list at once and loads the policy, and checks it in
full, when the first call needs it. Without one (a first start, anything changed, a damaged or foreign entry),
it loads and checks the policy before serving, and a policy that fails stops the start: a policy that fails
never gets an entry. The entry never decides a write; it only says the check has passed before.
"""

from __future__ import annotations

import os
import sys

from storyfence.adapters.hook_cache import code_and_policy_inputs
from storyfence.adapters.private_cache import entry_path, inputs_hold, racy, read_entry, write_entry

FORMAT = 1


def entry_file(real_root: str, explicit: str | None, folder: str | None = None) -> str:
    return entry_path("start", real_root, explicit, folder)


def _key(real_root: str, explicit: str | None) -> list[object]:
    real_explicit = os.path.realpath(explicit) if explicit is not None else None
    return [FORMAT, list(sys.version_info[:3]), sys.executable, real_root, explicit, real_explicit]


def inputs_before(real_root: str, explicit: str | None) -> dict[str, list[int] | None]:
    """The code and policy inputs, taken before the policy is read (so never newer than what it read)."""
    return code_and_policy_inputs(real_root, explicit)


def load(real_root: str, explicit: str | None, *, folder: str | None = None) -> str | None:
    """The instructions of this root and policy argument when every input of the load that made them is
    unchanged, else None."""
    raw = read_entry(entry_file(real_root, explicit, folder))
    if not isinstance(raw, dict):
        return None
    entry: dict[str, object] = raw  # pyright: ignore[reportUnknownVariableType]
    text = entry.get("instructions")
    if entry.get("key") != _key(real_root, explicit) or not isinstance(text, str):
        return None
    return text if inputs_hold(entry.get("inputs")) else None


def save(
    real_root: str,
    explicit: str | None,
    inputs: dict[str, list[int] | None],
    instructions: str,
    *,
    folder: str | None = None,
) -> bool:
    """Keep the instructions of a policy that just passed its checks, unless an input changed too recently to be
    cached against; True when kept."""
    import time

    if racy(list(inputs.values()), time.time_ns()):
        return False
    entry = {
        "key": _key(real_root, explicit),
        "inputs": [[path, ident] for path, ident in inputs.items()],
        "instructions": instructions,
    }
    write_entry(entry_file(real_root, explicit, folder), entry)
    return True
