"""Crash-safety evidence: the real `storyfence serve`, driven through stories by the official MCP client over
stdio, is killed with SIGKILL at random moments. After every kill the disk must hold no torn file, a journal
that loads and still records every action the server acknowledged, no file change (write or delete) without
its journal record, and a BACKEND-LOG.md that holds every logged section (at once, or after the next
transaction reconciles it); no process the server started (a typecheck) may outlive it, and no staged temp
file a kill left may survive the next transaction. Then a fresh server continues.

    .venv/bin/python scripts/stress.py --kills 200 --seed 1            # real `pnpm check-types`
    .venv/bin/python scripts/stress.py --kills 50 --typecheck fake     # a fast stand-in command

Exit status 0 only if nothing was lost or torn. `tests/e2e/test_crash.py` runs a smaller version.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

if __package__ in (None, ""):  # run as a script: make `tests.support` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.client import CALL_TIMEOUT
from tests.support.paths import EXAMPLES
from tests.support.procfs import server_pid
from tests.support.repos import copy_example
from tests.support.server import open_client, server_params

from storyfence.adapters.files import RepoFiles
from storyfence.adapters.store import StoryStore
from storyfence.core import log_reader, logbook
from storyfence.core.errors import StateError
from storyfence.core.events import (
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    Event,
    FileChanged,
    StoryBlocked,
    StoryCompleted,
    TypecheckRan,
)
from storyfence.core.journal import Record, decode
from storyfence.core.story_paths import TMP_PREFIX, StoryPaths
from storyfence.core.workflow import derive

STORY = "STORY-042"
PATHS = StoryPaths(STORY, STORY)
IMPL = PATHS.impl
JOURNAL = PATHS.journal
LOG = PATHS.log
BLOCKERS = PATHS.blockers

# files the driver writes, edits and deletes: in the story's SCOPE.md, in three workspace packages
TS_TARGETS = (
    "packages/core/src/orders/stress-0.ts",
    "packages/core/src/orders/stress-1.ts",
    "packages/core/src/orders/stress-2.ts",
    "packages/backend/src/stress.ts",
    "apps/api/api/orders/stress.ts",
)
HTTP_TARGET = "__http__/orders-cancel.http"
TARGETS = (*TS_TARGETS, HTTP_TARGET)
FILE_TOOLS = ("write_file", "edit_file", "delete_file")
FAKE_POLICY = '[typecheck]\ncommand = ["node", "-e", "process.exit(0)", "{package}"]\ntimeout_seconds = 60\n'
LOG_ARGS: dict[str, Any] = {
    "summary": "Stress chunk: rewrote and edited the stress modules.",
    "reuse": {"reused": "Order types from packages/core.", "new": "stress modules", "why_new": "crash testing"},
    "ports_adapters": {"core": "constants only", "adapters": "nothing"},
    "notes_risks": "none — written by scripts/stress.py",
}
_EXPORT = re.compile(r"export const (\w+): number = ('?\d+'?);")

Key = tuple[Any, ...]
Say = Callable[[str], None]


# --- the server process ------------------------------------------------------------------------------------


def stress_params(root: Path, policy: Path | None) -> StdioServerParameters:
    """The server under stress: errors only on its stderr, and no Python warnings mixed into it."""
    extra = ["--policy", str(policy)] if policy is not None else []
    return server_params(root, *extra, env={"PYTHONWARNINGS": "ignore"}, log_level="ERROR")


def sigkill(pid: int) -> bool:
    """SIGKILL `pid` if it still runs; False if it already exited (the story ended and the client closed it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
        os.kill(pid, signal.SIGKILL)
    except (OSError, IndexError):  # ProcessLookupError included: it is gone
        return False
    return True


def processes_under(root: Path) -> list[int]:
    """Live processes (not zombies) whose working directory is inside `root`: what a typecheck started."""
    found: list[int] = []
    prefix = str(root)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            state = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X") and (cwd == prefix or cwd.startswith(prefix + "/")):
            found.append(int(entry))
    return found


async def survivors_after_kill(root: Path, grace: float = 10.0) -> list[int]:
    """The processes under `root` still running `grace` seconds after the server was killed (then killed)."""
    deadline = time.monotonic() + grace
    while (alive := processes_under(root)) and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return alive


def tmp_files(root: Path) -> set[Path]:
    """The staged temp files beside the driver's targets and the server-owned files."""
    found: set[Path] = set()
    for folder in {(root / p).parent for p in TARGETS} | {root / IMPL}:
        found.update(folder.glob(f"{TMP_PREFIX}*"))
    return found


# --- what the driver knows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One tool call; for a file tool, the target's content if the call lands (None: deleted)."""

    tool: str
    args: dict[str, Any]
    path: str | None = None
    new: bytes | None = None


@dataclass
class StoryCopy:
    """A private copy of examples/ and everything the server acknowledged on it."""

    root: Path
    current: dict[str, bytes | None] = field(default_factory=dict)
    pending_tmp: set[Path] = field(default_factory=set)  # temp files a kill left, for the next transaction
    # what a path still holds because the journal's last record of it (a write or delete a kill left unanswered
    # and undone) waits for the next transaction to finish it: until one runs, the disk legitimately holds this
    behind: dict[str, bytes | None] = field(default_factory=dict)
    sent: dict[str, set[bytes | None]] = field(default_factory=dict)
    acked: Counter[Key] = field(default_factory=Counter)
    hashes: list[str] = field(default_factory=list)  # the journal's record hashes seen so far
    torn_tail: bool = False  # a torn journal tail was injected and no transaction has repaired it yet

    @classmethod
    def fresh(cls, workdir: Path, number: int) -> StoryCopy:
        return cls.of(copy_example(workdir / f"repo-{number:03d}"))

    @classmethod
    def of(cls, root: Path) -> StoryCopy:
        """A copy of examples/ at `root` that nothing has been sent to yet."""
        copy = cls(root=root)
        for path in TARGETS:
            copy.current[path] = read_or_none(root / path)
            copy.sent[path] = {copy.current[path]}
        return copy


@dataclass
class Summary:
    settings: str = ""
    seconds: float = 0.0
    kills: int = 0
    lives: int = 0
    stories: int = 0
    stories_completed: int = 0
    stories_blocked: int = 0
    acked_writes: int = 0
    acked_actions: int = 0
    lost: int = 0
    torn_files: int = 0
    torn_logs: int = 0
    state_errors: int = 0
    unreconciled: int = 0
    phantom: int = 0
    rewritten: int = 0
    landed_unrecorded: int = 0
    recorded_unacked: int = 0
    tails_injected: int = 0
    tails_repaired: int = 0
    leftover_tmp: set[str] = field(default_factory=set)  # survived the next transaction
    tmp_left_by_kills: int = 0  # seen right after a kill (the next transaction must remove them)
    tmp_awaiting: int = 0  # left by the last kill of the run: no transaction came after it
    survivors: int = 0  # processes started by a killed server still running 10 s after the kill
    deletes_acked: int = 0
    typechecks: Counter[str] = field(default_factory=Counter)
    killed_during: Counter[str] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = (self.lost, self.torn_files, self.torn_logs, self.state_errors, self.unreconciled, self.phantom)
        leftovers = (self.landed_unrecorded, len(self.leftover_tmp), self.survivors)
        return not any(bad) and not any(leftovers) and self.rewritten == 0 and not self.problems

    def report(self) -> str:
        during = ", ".join(f"{tool} {n}" for tool, n in self.killed_during.most_common())
        checks = ", ".join(f"{outcome} {n}" for outcome, n in sorted(self.typechecks.items()))
        return "\n".join(
            [
                f"run: {self.settings}; {self.seconds:.0f}s",
                f"kills: {self.kills} (server lives: {self.lives}; stories: {self.stories}, "
                f"{self.stories_completed} completed, {self.stories_blocked} blocked)",
                f"killed during: {during or '-'}",
                f"acknowledged writes: {self.acked_writes} (deletes {self.deletes_acked}); acknowledged actions "
                f"(all tools): {self.acked_actions}",
                f"typecheck results acknowledged: {checks or '-'}",
                f"lost writes/actions: {self.lost} (must be 0)",
                f"torn files: {self.torn_files} (must be 0)",
                f"torn or unparsable BACKEND-LOG.md: {self.torn_logs} (must be 0)",
                f"journal failed to load: {self.state_errors} (must be 0)",
                f"logged text missing after the next transaction: {self.unreconciled} (must be 0)",
                f"journal records of content never sent: {self.phantom} (must be 0)",
                f"acknowledged journal records rewritten: {self.rewritten} (must be 0)",
                f"torn journal tails injected: {self.tails_injected}, truncated by the next transaction: "
                f"{self.tails_repaired}",
                f"journal records of calls the kill left unanswered: {self.recorded_unacked}",
                f"unrecorded changes (a write or delete on disk without its journal record): "
                f"{self.landed_unrecorded} (must be 0)",
                f"temp files ({TMP_PREFIX}*) left by kills: {self.tmp_left_by_kills}; still there after the next "
                f"transaction: {len(self.leftover_tmp)} (must be 0); left by the last kill, no transaction since: "
                f"{self.tmp_awaiting}",
                f"processes of a killed server still running 10 s later: {self.survivors} (must be 0)",
                f"tool refusals: {len(self.refusals)}",
                *[f"PROBLEM: {p}" for p in self.problems[:20]],
                "RESULT: " + ("OK" if self.ok else "FAILED"),
            ]
        )


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_key(event: Event) -> Key:
    """The same key for a journal event and for the tool result that acknowledged it."""
    if isinstance(event, FileChanged):
        return ("file_changed", event.chunk, event.change.path, event.change.kind, event.change.sha256)
    if isinstance(event, ChunkOpened):
        return ("chunk_opened", event.number)
    if isinstance(event, TypecheckRan):
        return ("typecheck_ran", event.chunk, event.outcome)
    if isinstance(event, ChunkLogged):
        return ("chunk_logged", event.chunk)
    if isinstance(event, ChunkClosed):
        return ("chunk_closed", event.chunk)
    if isinstance(event, StoryBlocked):
        return ("story_blocked",)
    assert isinstance(event, StoryCompleted)
    return ("story_completed",)


def expected_log(story_id: str, appends: list[str]) -> str:
    """BACKEND-LOG.md as the store builds it: the header, then each appended block after one blank line."""
    text = logbook.render_log_header(story_id)
    for block in appends:
        text = text.rstrip("\n") + "\n\n" + block.lstrip("\n")
    return text


# --- checking the disk -----------------------------------------------------------------------------------


class Checker:
    def __init__(self, summary: Summary) -> None:
        self.s = summary

    def problem(self, text: str) -> None:
        self.s.problems.append(text)

    def journal(self, copy: StoryCopy) -> list[Record] | None:
        """The journal's records, through the server's own read path (a torn tail tolerated)."""
        store = StoryStore(copy.root, PATHS, RepoFiles(copy.root))
        try:
            records, _ = store.read_state()
        except StateError as exc:
            self.s.state_errors += 1
            self.problem(f"{copy.root.name}: the story state does not load: {exc}")
            return None
        hashes = [r.hash for r in records]
        if hashes[: len(copy.hashes)] != copy.hashes:
            self.s.rewritten += 1
            self.problem(f"{copy.root.name}: a journal record seen before was changed or removed")
        copy.hashes = hashes
        return records

    @staticmethod
    def last_recorded_sha(copy: StoryCopy) -> tuple[dict[str, str | None], bool]:
        """Each path's content hash in the journal's last record of it (without judging the journal), and
        whether the journal holds records the last check did not see (then a transaction ran since)."""
        try:
            records, _ = StoryStore(copy.root, PATHS, RepoFiles(copy.root)).read_state()
        except StateError:
            return {}, True
        last: dict[str, str | None] = {}
        for rec in records:
            if isinstance(rec.event, FileChanged):
                last[rec.event.change.path] = rec.event.change.sha256
        return last, [r.hash for r in records] != copy.hashes

    def after_life(self, copy: StoryCopy, inflight: Call | None) -> None:
        """After a kill (or a clean end): files, journal and log as the crash left them."""
        root = copy.root
        landed = False  # the in-flight call changed its file on disk
        # a write the journal recorded but a kill left unrenamed is finished by the next server (write-ahead):
        # the disk then holds what the journal says, which is right even though no answer acknowledged it
        journaled, transacted = self.last_recorded_sha(copy)
        for path in TARGETS:
            disk = read_or_none(root / path)
            allowed = {copy.current[path]}
            if path in copy.behind and not transacted:
                # a record an earlier kill left undone, and no transaction since (this life was killed before
                # its first one): nothing finished it yet, so the disk still holds what it held then
                allowed.add(copy.behind[path])
            if inflight is not None and inflight.path == path:
                allowed.add(inflight.new)
                landed = disk == inflight.new != copy.current[path]
            if disk is not None and journaled.get(path) == hashlib.sha256(disk).hexdigest():
                allowed.add(disk)
            if disk is None and path in journaled and journaled[path] is None:
                allowed.add(None)  # a recorded delete, finished by the next transaction (write-ahead)
            if disk not in allowed:
                if disk in copy.sent[path]:
                    self.s.lost += 1
                    self.problem(f"{path} went back to an older content after an acknowledged write")
                else:
                    self.s.torn_files += 1
                    self.problem(f"{path} holds content that was never sent ({len(disk or b'')} bytes): torn")
            copy.current[path] = disk
            copy.behind.pop(path, None)
            # the journal is the truth: a recorded write or delete the kill left undone is finished by the next
            # transaction, so the driver plans on what the disk will hold then
            if path in journaled:
                will = journaled[path]
                if will is None and disk is not None:
                    copy.current[path] = None
                    copy.behind[path] = disk
                elif will is not None and (disk is None or sha(disk) != will):
                    match = [c for c in copy.sent[path] if c is not None and sha(c) == will]
                    if match:
                        copy.current[path] = match[0]
                        copy.behind[path] = disk
        found = tmp_files(root)
        self.s.tmp_left_by_kills += len(found - copy.pending_tmp)
        copy.pending_tmp |= found
        records = self.journal(copy)
        if records is None:
            return
        recorded = Counter(event_key(r.event) for r in records)
        missing = copy.acked - recorded
        if missing:
            self.s.lost += sum(missing.values())
            self.problem(f"{root.name}: acknowledged but not in the journal: {sorted(missing)[:5]}")
        unacked = recorded - copy.acked
        self.s.recorded_unacked += sum(unacked.values())
        copy.acked = recorded  # from now on the journal is the truth: it only grows
        sent_digests = {path: {sha(c) for c in contents if c is not None} for path, contents in copy.sent.items()}
        for r in records:
            change = r.event.change if isinstance(r.event, FileChanged) else None
            if change is not None and change.sha256 not in sent_digests.get(change.path, set()) | {None}:
                self.s.phantom += 1
                self.problem(f"journal records {change.path} with content never sent (seq {r.seq})")
        if (
            landed
            and inflight is not None
            and not any(k[0] == "file_changed" and k[2] == inflight.path for k in unacked)
        ):
            self.s.landed_unrecorded += 1
        self.log_is_a_prefix(copy, records)

    def log_is_a_prefix(self, copy: StoryCopy, records: list[Record]) -> None:
        """The log holds the header and the first k appended blocks, whole, for some k."""
        text = read_or_none(copy.root / LOG)
        appends = [a for r in records if (a := getattr(r.event, "log_append", ""))]
        if text is None:
            return
        decoded = text.decode("utf-8", errors="replace")
        if not any(decoded == expected_log(STORY, appends[:k]) for k in range(len(appends), -1, -1)):
            self.s.torn_logs += 1
            self.problem(f"{copy.root.name}: BACKEND-LOG.md is not the header plus whole appended blocks")
        # a section is its heading and Objective while its chunk is open, then every field: never a part of them
        if any(not s.complete and set(s.fields) != {"Objective"} for s in log_reader.parse_log(decoded)):
            self.s.torn_logs += 1
            self.problem(f"{copy.root.name}: BACKEND-LOG.md has an incomplete chunk section")

    def reconciled(self, copy: StoryCopy) -> None:
        """After a transaction: the log holds every block the journal appended, BLOCKERS.md the last one, and
        the temp files earlier kills left are gone."""
        survived = {p for p in copy.pending_tmp if p.exists()}
        self.s.leftover_tmp.update(str(p) for p in survived)
        if survived:
            self.problem(f"{copy.root.name}: staged files survived the next transaction: {sorted(survived)[:3]}")
        copy.pending_tmp = set()
        for path in sorted(copy.behind):
            if read_or_none(copy.root / path) != copy.current[path]:
                self.s.lost += 1
                self.problem(f"{copy.root.name}: {path}: a recorded change a kill left undone was not finished")
        copy.behind = {}
        raw = read_or_none(copy.root / JOURNAL) or b""
        if copy.torn_tail and raw.endswith(b"\n"):
            copy.torn_tail = False
            self.s.tails_repaired += 1
        if raw and not raw.endswith(b"\n"):
            self.s.unreconciled += 1
            self.problem(f"{copy.root.name}: the journal still has a torn tail after a transaction")
        records, _ = decode(raw.decode("utf-8", errors="replace"))
        appends = [a for r in records if (a := getattr(r.event, "log_append", ""))]
        text = (read_or_none(copy.root / LOG) or b"").decode("utf-8", errors="replace")
        if appends and text != expected_log(STORY, appends):
            self.s.unreconciled += 1
            self.problem(f"{copy.root.name}: BACKEND-LOG.md misses journal blocks after a transaction")
        state = derive(r.event for r in records)
        # a chunk has its section from when it began (or, in older journals, from its log); the section is
        # complete once the chunk ended: closed, or open when the story blocked
        logged = [c.number for c in state.chunks if c.opened_in_log or c.logged]
        ended = {c.number for c in state.chunks if c.closed or (c.logged and not c.opened_in_log)}
        if state.status == "blocked" and state.current is not None:
            ended.add(state.current.number)
        sections = log_reader.parse_log(text)
        if [s.number for s in sections] != logged or any(s.complete != (s.number in ended) for s in sections):
            self.s.unreconciled += 1
            self.problem(f"{copy.root.name}: parse_log gives {[s.number for s in sections]}, journal {logged}")
        blocked = [r.event.blockers for r in records if isinstance(r.event, StoryBlocked)]
        if blocked and read_or_none(copy.root / BLOCKERS) != blocked[-1].encode("utf-8"):
            self.s.unreconciled += 1
            self.problem(f"{copy.root.name}: BLOCKERS.md does not hold the journal's blockers")


def inject_torn_tail(copy: StoryCopy, rng: random.Random) -> None:
    """What a kill in the middle of a large journal append can leave (a write cut short by a fatal signal): a
    prefix of a record without its newline, often cut inside a multi-byte UTF-8 character (the log's `—`)."""
    raw = read_or_none(copy.root / JOURNAL)
    if not raw or not raw.endswith(b"\n"):
        return
    lines = raw.splitlines()
    wide = [line for line in lines if any(b >= 0xC0 for b in line)]
    if wide and rng.random() < 0.6:
        line = rng.choice(wide)
        starts = [i for i, b in enumerate(line) if b >= 0xC0]  # first bytes of multi-byte characters
        cut = rng.choice(starts) + 1
    else:
        line = lines[-1]
        cut = rng.randrange(1, len(line))
    with (copy.root / JOURNAL).open("ab") as fh:
        fh.write(line[:cut])
    copy.torn_tail = True


# --- driving the story -----------------------------------------------------------------------------------


class Aborted(Exception):
    """The story cannot go on: a fresh server could not even read its status."""


class Driver:
    """Plays an agent: chunks of writes, edits and deletes, typechecks and log sections, stories completed."""

    def __init__(self, copy: StoryCopy, rng: random.Random, summary: Summary, checker: Checker) -> None:
        self.copy = copy
        self.rng = rng
        self.s = summary
        self.checker = checker
        self.inflight: Call | None = None
        self.chunks_per_story = 5
        self.calls = 0  # calls started in this server's life
        self.call_started = anyio.Event()  # set (and replaced) whenever a call starts

    def _rev(self) -> int:
        return self.rng.randrange(10**9)

    def content(self, path: str, *, broken: bool = False) -> bytes:
        rev = self._rev()
        if path.endswith(".http"):
            return f"### stress {rev}\nGET http://localhost:3001/api/orders/ord_{rev}\n".encode()
        name = "stress_" + re.sub(r"\W", "_", path.rsplit("/", 1)[-1].removesuffix(".ts"))
        value = f"'{rev}'" if broken else str(rev)
        text = f"// written by scripts/stress.py\nexport const {name}: number = {value};\n"
        if self.rng.random() < 0.1:  # a large file widens the window of a kill inside a write
            text += ("// " + "padding " * 12 + "\n") * self.rng.randrange(1_000, 20_000)
        return text.encode()

    def plan_file_call(self) -> Call:
        current = self.copy.current
        present = [p for p in TS_TARGETS if current[p] is not None and _EXPORT.search(current[p].decode())]
        roll = self.rng.random()
        if roll < 0.55 or not present:
            path = self.rng.choice(TARGETS)
            new = self.content(path, broken=self.rng.random() < 0.08)
            return Call("write_file", {"story": STORY, "path": path, "content": new.decode()}, path, new)
        path = self.rng.choice(present)
        if roll < 0.75:
            old = current[path]
            assert old is not None
            match = _EXPORT.search(old.decode())
            assert match is not None
            broken = self.rng.random() < 0.08
            value = f"'{self._rev()}'" if broken else str(self._rev())
            new_line = f"export const {match[1]}: number = {value};"
            new = old.decode().replace(match[0], new_line, 1).encode()
            edits = [{"old_text": match[0], "new_text": new_line}]
            return Call("edit_file", {"story": STORY, "path": path, "edits": edits}, path, new)
        return Call("delete_file", {"story": STORY, "path": path}, path, None)

    def plan(self, status: dict[str, Any]) -> Call:
        story = {"story": STORY}
        if status["status"] == "idle":
            closed = status.get("earlier_chunks", 0) + sum(1 for c in status["chunks"] if c["closed"])
            if closed >= self.chunks_per_story:
                return Call("complete_story", story)
            if closed and self.rng.random() < 0.03:
                return Call("report_blocker", {**story, "reason": "stress: giving up", "details": "on purpose"})
            number = status.get("earlier_chunks", 0) + len(status["chunks"]) + 1
            return Call("begin_chunk", {**story, "name": f"stress chunk {number}", "objective": "survive SIGKILL"})
        chunk = status["chunks"][-1]
        step = status["next_step"]
        broken = [p for p in TS_TARGETS if b"= '" in (self.copy.current[p] or b"")]
        if "typecheck failed: fix the errors" in step or (chunk["typecheck"] == "failed" and broken):
            path = self.rng.choice(broken or list(TS_TARGETS))
            new = self.content(path, broken=self.rng.random() < 0.25)  # sometimes a wrong fix
            return Call("write_file", {**story, "path": path, "content": new.decode()}, path, new)
        budget = 2 + chunk["number"] % 5
        if len(chunk["files"]) < budget and self.rng.random() < 0.7:
            return self.plan_file_call()
        if "is not logged" in step and ("call run_typecheck" not in step or self.rng.random() < 0.5):
            return Call("append_chunk_log", {**story, **LOG_ARGS})
        if "call run_typecheck" in step:
            return Call("run_typecheck", story)
        return self.plan_file_call()

    def acknowledge(self, call: Call, data: dict[str, Any]) -> None:
        copy, acked = self.copy, self.copy.acked
        if call.tool != "story_status":
            self.s.acked_actions += 1
        if call.tool in FILE_TOOLS:
            assert call.path is not None
            if call.tool != "edit_file" or data["applied"]:
                change = data["change"] if call.tool != "edit_file" else None
                kind = change["kind"] if change else "modified"
                digest = sha(call.new) if call.new is not None else None
                acked[("file_changed", data["chunk"], call.path, kind, digest)] += 1
                self.s.acked_writes += 1
                self.s.deletes_acked += call.tool == "delete_file"
            copy.current[call.path] = call.new
        elif call.tool == "begin_chunk":
            acked[("chunk_opened", data["chunks"][-1]["number"])] += 1
        elif call.tool == "run_typecheck":
            self.s.typechecks[data["outcome"]] += 1
            acked[("typecheck_ran", data["chunk"], data["outcome"])] += 1
            if data["chunk_closed"]:
                acked[("chunk_closed", data["chunk"])] += 1
            if data["signal"].startswith("BLOCKED"):
                acked[("story_blocked",)] += 1
        elif call.tool == "append_chunk_log":
            acked[("chunk_logged", data["chunk"])] += 1
            if data["chunk_closed"]:
                acked[("chunk_closed", data["chunk"])] += 1
        elif call.tool == "complete_story":
            acked[("story_completed",)] += 1
        elif call.tool == "report_blocker":
            acked[("story_blocked",)] += 1

    async def send(self, client: Client, call: Call) -> dict[str, Any] | None:
        if call.path is not None:
            self.copy.sent[call.path].add(call.new)
        self.inflight = call
        self.calls += 1
        self.call_started.set()
        self.call_started = anyio.Event()
        with anyio.fail_after(CALL_TIMEOUT):
            result = await client.call_tool(call.tool, call.args)
        self.inflight = None  # answered: acknowledged (or refused)
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content)
            self.s.refusals.append(f"{call.tool}: {text[:200]}")
            return None
        data = result.structured_content
        assert isinstance(data, dict)
        self.acknowledge(call, data)
        return data

    async def run(self, client: Client) -> str:
        """Drive until the story ends (returns its status) or the server dies (raises)."""
        reconciled = False
        while True:
            status = await self.send(client, Call("story_status", {"story": STORY}))
            if status is None:
                raise Aborted(f"{self.copy.root.name}: story_status failed: {self.s.refusals[-1]}")
            if status["status"] in ("complete", "blocked"):
                return str(status["status"])
            data = await self.send(client, self.plan(status))
            if data is not None and not reconciled:
                self.checker.reconciled(self.copy)  # the first transaction of a fresh server repairs the log
                reconciled = True


# --- one server life ---------------------------------------------------------------------------------------


def _aborted(exc: BaseException) -> Aborted | None:
    """The Aborted inside `exc`, however deep in exception groups the client's task groups put it."""
    if isinstance(exc, Aborted):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _aborted(inner)
        if found is not None:
            return found
    return None


async def life(
    driver: Driver, params: StdioServerParameters, rng: random.Random, work_window: float
) -> tuple[bool, str | None]:
    """Start a server, drive it, and SIGKILL it at a random moment: during its start (10%), a few
    milliseconds into a randomly chosen call (50%: every tool gets hit, however short), or at a random time
    into the work (40%). Returns (killed, how the story ended if it did)."""
    root = driver.copy.root
    connected = anyio.Event()
    killed = False
    ended: str | None = None
    roll = rng.random()
    target_call = rng.randint(1, 16) if 0.1 <= roll < 0.6 else 0
    delay = rng.uniform(0.0, 0.03) if target_call else rng.uniform(0.0, 1.0 if roll < 0.1 else work_window)

    async def killer() -> None:
        nonlocal killed
        pid = None
        with anyio.fail_after(60):
            while (pid := server_pid(root)) is None:
                await anyio.sleep(0.002)
        if roll >= 0.1:
            await connected.wait()
        while driver.calls < target_call:
            await driver.call_started.wait()
        await anyio.sleep(delay)
        killed = sigkill(pid)

    async def drive() -> None:
        nonlocal ended, aborted
        try:
            async with open_client(params) as client:
                connected.set()
                ended = await driver.run(client)
        except Exception as exc:
            aborted = _aborted(exc)
            if not killed and aborted is None:
                raise
        tg.cancel_scope.cancel()

    driver.inflight = None
    aborted: Aborted | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(killer)
        tg.start_soon(drive)
    if aborted is not None:
        raise aborted
    return killed, ended


async def stress(
    *,
    kills: int,
    seed: int,
    workdir: Path,
    typecheck: str = "real",
    work_window: float | None = None,
    tail_rate: float = 0.25,
    keep: bool = False,
    say: Say = print,
) -> Summary:
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    summary = Summary(settings=f"seed {seed}, typecheck {typecheck}")
    checker = Checker(summary)
    policy: Path | None = None
    if typecheck == "fake":
        policy = workdir / "fast-typecheck.toml"
        policy.write_text(FAKE_POLICY, encoding="utf-8")
    window = work_window if work_window is not None else (8.0 if typecheck == "real" else 1.5)
    copy = StoryCopy.fresh(workdir, summary.stories)
    summary.stories += 1
    started = time.monotonic()
    while summary.kills < kills:
        driver = Driver(copy, rng, summary, checker)
        try:
            killed, ended = await life(driver, stress_params(copy.root, policy), rng, window)
        except Aborted as exc:
            checker.problem(str(exc))
            break
        summary.lives += 1
        if killed:
            summary.kills += 1
            summary.killed_during[driver.inflight.tool if driver.inflight else "(between calls)"] += 1
            alive = await survivors_after_kill(copy.root)
            if alive:
                summary.survivors += len(alive)
                checker.problem(f"{copy.root.name}: {len(alive)} process(es) outlived the killed server")
        checker.after_life(copy, driver.inflight if killed else None)
        if killed and rng.random() < tail_rate:
            inject_torn_tail(copy, rng)
            summary.tails_injected += copy.torn_tail
        if summary.lives % 10 == 0 or ended:
            say(
                f"[{time.monotonic() - started:6.1f}s] kills {summary.kills}/{kills}, acked writes "
                f"{summary.acked_writes}, lost {summary.lost}, torn {summary.torn_files}, "
                f"problems {len(summary.problems)}" + (f" — story {copy.root.name} {ended}" if ended else "")
            )
        if ended is not None:
            summary.stories_completed += ended == "complete"
            summary.stories_blocked += ended == "blocked"
            if not keep:
                shutil.rmtree(copy.root, ignore_errors=True)
            copy = StoryCopy.fresh(workdir, summary.stories)
            summary.stories += 1
    summary.tmp_awaiting = len({p for p in copy.pending_tmp if p.exists()})
    if not keep:
        shutil.rmtree(copy.root, ignore_errors=True)
    summary.seconds = time.monotonic() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200, help="how many times to SIGKILL the server (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--typecheck",
        choices=["real", "fake"],
        default="real",
        help="real: the policy's `pnpm check-types`; fake: a command that passes at once (faster)",
    )
    parser.add_argument("--window", type=float, help="seconds of work before a kill, at most (default 8 / 1.5)")
    parser.add_argument("--keep", action="store_true", help="keep the repo copies (printed at the end)")
    args = parser.parse_args(argv)
    if not (EXAMPLES / "node_modules").is_dir():
        print("examples/node_modules is missing: run `make setup` first", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="storyfence-stress-"))
    try:
        summary = anyio.run(
            lambda: stress(
                kills=args.kills,
                seed=args.seed,
                workdir=workdir,
                typecheck=args.typecheck,
                work_window=args.window,
                keep=args.keep,
            )
        )
    finally:
        if not args.keep:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    print(summary.report())
    if args.keep:
        print(f"repo copies kept in {workdir}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
