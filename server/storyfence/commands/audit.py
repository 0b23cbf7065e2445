"""`storyfence audit STORY`: checks a story's journal and holds it against git, for CI or a pre-commit hook.

The journal's hash chain must verify (an edit by hand is a finding). Then what git says changed since the
story began (commits since the first chunk's base commit, the working tree and untracked files) is
compared with the writes the server recorded:

    changed-outside-server  git changed a file the journal never recorded
    content-differs         a file's content is not what the server last wrote (edited out of band)
    out-of-policy           a changed file the policy or the story's SCOPE.md refuses
    log-mismatch            BACKEND-LOG.md (or BLOCKERS.md) does not match the journal
    journal-broken          the journal does not verify (edited by hand, damaged)
    base-missing            the first chunk's base commit is no longer in the repo

A file that was already uncommitted when the story's first chunk opened (the journal records it, with its
content hash, as the story's baseline: what `init` just wrote, a story folder not yet committed) is not the
story's doing: it is listed apart as pre-existing, not as a finding, as long as its content is still what it
was then. Changed again since, it is a finding like any other.

Exit 0 when clean (pre-existing files included), 1 on any finding, 2 on a usage error (unknown story, not a
git repo, bad policy).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pathspec

from storyfence.adapters import git
from storyfence.adapters.policy_file import load_policy
from storyfence.app.repo import Story
from storyfence.app.service import StoryfenceService
from storyfence.core import logbook
from storyfence.core.errors import StateError, StoryfenceError
from storyfence.core.events import (
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    DirtyFile,
    Event,
    FileChanged,
    StoryBlocked,
    StoryCompleted,
    TypecheckRan,
)
from storyfence.core.journal import Record, decode
from storyfence.core.models import FileChange
from storyfence.core.story_paths import protected_globs
from storyfence.core.workflow import derive

# Any story's server-owned files: each story's own audit checks its log and journal; another story's
# files changing in the same range is not this story's finding.
_SERVER_OWNED = pathspec.PathSpec.from_lines("gitignore", protected_globs("*")[1])


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str
    detail: str


@dataclass(frozen=True)
class Report:
    story: str
    base_commit: str | None
    recorded: int  # paths the journal recorded a write for
    changed: int  # paths git says changed (server-owned files excluded)
    findings: list[Finding]
    preexisting: list[DirtyFile] = field(default_factory=lambda: list[DirtyFile]())  # not findings

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, object]:
        return {
            "story": self.story,
            "ok": self.ok,
            "base_commit": self.base_commit,
            "recorded_paths": self.recorded,
            "changed_paths": self.changed,
            "findings": [asdict(f) for f in self.findings],
            "preexisting": [p.model_dump(mode="json") for p in self.preexisting],
        }


class UsageError(StoryfenceError):
    """The audit cannot run: not a git repo, unknown story, git failed."""


# --- the journal ---------------------------------------------------------------------------------------------


def read_journal(path: Path, label: str) -> tuple[list[Record], Finding | None]:
    """The verified records, and a finding if the journal does not verify.

    On a broken chain the records are the longest prefix that verifies, so the comparison with git still
    runs (on fewer records it can only find more, never fewer, differences).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], None
    text = raw.decode("utf-8", errors="replace")  # a bad byte then fails its line's hash, with its line number
    try:
        records, _ = decode(text, label)
        return records, None
    except StateError as exc:
        error = str(exc)
    lines = text.split("\n")[:-1]  # complete lines; decode ignores an unterminated tail too
    good, bad = 0, len(lines)  # decode(first `good` lines) verifies; decode(first `bad` lines) does not
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            decode("".join(line + "\n" for line in lines[:middle]), label)
            good = middle
        except StateError:
            bad = middle
    records, _ = decode("".join(line + "\n" for line in lines[:good]), label)
    detail = f"{error}; only the {len(records)} record(s) before it were compared with git"
    return records, Finding("journal-broken", label, detail)


def last_writes(events: list[Event]) -> dict[str, tuple[int, FileChange]]:
    """Per path, the chunk and the last change the server recorded (in order of first write)."""
    last: dict[str, tuple[int, FileChange]] = {}
    for event in events:
        if isinstance(event, FileChanged):
            last[event.change.path] = (event.chunk, event.change)
    return last


def base_commit(events: list[Event]) -> str | None:
    """git HEAD when the story's first chunk opened."""
    for event in events:
        if isinstance(event, ChunkOpened):
            return event.base_commit
    return None


def baseline(events: list[Event]) -> dict[str, DirtyFile]:
    """What was already uncommitted when the story's first chunk opened (empty for older journals)."""
    for event in events:
        if isinstance(event, ChunkOpened):
            return {dirty.path: dirty for dirty in event.baseline or ()}
    return {}


def split_preexisting(
    root: Path, changed: dict[str, str], last: dict[str, tuple[int, FileChange]], before: dict[str, DirtyFile]
) -> tuple[dict[str, str], list[DirtyFile], list[Finding]]:
    """Separate the changed files the server never wrote that are exactly as they were when the story began.

    Returns the changes left to judge, the pre-existing files, and a finding per baseline file that changed
    again after the story began.
    """
    rest: dict[str, str] = {}
    preexisting: list[DirtyFile] = []
    again: list[Finding] = []
    for path, kind in changed.items():
        dirty = before.get(path)
        if dirty is None or path in last:
            rest[path] = kind
        elif git.file_sha256(root / path) == dirty.sha256:
            preexisting.append(dirty)
        else:
            was = f"{dirty.kind}, sha256 {dirty.sha256[:12]}" if dirty.sha256 else dirty.kind
            again.append(
                Finding(
                    "changed-outside-server",
                    path,
                    f"already uncommitted when the story began ({was}), and changed again after the story began, "
                    "outside storyfence",
                )
            )
    return rest, preexisting, again


# --- the checks ----------------------------------------------------------------------------------------------


def check_contents(root: Path, last: dict[str, tuple[int, FileChange]]) -> list[Finding]:
    """Each recorded file still holds what the server last wrote (or is still gone, if it deleted it)."""
    findings: list[Finding] = []
    for path, (chunk, change) in last.items():
        target = root / path
        if change.kind == "deleted":
            if os.path.lexists(target):
                findings.append(
                    Finding("content-differs", path, f"the server deleted it in chunk {chunk}, but it exists again")
                )
            continue
        current = git.file_sha256(target)
        if current is None:
            what = (
                "is a symlink"
                if target.is_symlink()
                else "is missing"
                if not os.path.lexists(target)
                else "is not a file"
            )
            findings.append(
                Finding("content-differs", path, f"the server wrote it in chunk {chunk}, but it {what} now")
            )
        elif current != change.sha256:
            findings.append(
                Finding(
                    "content-differs",
                    path,
                    f"its content (sha256 {current[:12]}) is not the server's last write in chunk {chunk} "
                    f"(sha256 {(change.sha256 or '')[:12]}): edited outside the server",
                )
            )
    return findings


def check_git(
    service: StoryfenceService, story: Story, changed: dict[str, str], last: dict[str, tuple[int, FileChange]]
) -> list[Finding]:
    """Files git changed that the journal never recorded, and changed files the policy or scope refuses."""
    findings: list[Finding] = []
    for path, kind in sorted(changed.items()):
        if path not in last:
            findings.append(
                Finding(
                    "changed-outside-server",
                    path,
                    f"{kind} according to git, but never written through storyfence for {story.id}",
                )
            )
        decision = service.check_path(path, story.id)
        if not decision.allowed:
            where = f" (pattern `{decision.pattern}`)" if decision.pattern else ""
            detail = f"refused by rule `{decision.rule}`{where} in {decision.policy_file}: {decision.reason}"
            findings.append(Finding("out-of-policy", path, detail))
    return findings


def _block_name(event: Event) -> str:
    if isinstance(event, ChunkLogged):
        return f"the chunk {event.chunk} section"
    if isinstance(event, TypecheckRan):
        return f"the chunk {event.chunk} typecheck failure block"
    if isinstance(event, ChunkClosed):
        return f"the chunk {event.chunk} after-the-log addendum"
    if isinstance(event, StoryBlocked):
        return "the BLOCKED note"
    if isinstance(event, StoryCompleted):
        return "the BACKEND COMPLETE block"
    return "a block"


def check_log(story: Story, events: list[Event]) -> list[Finding]:
    """BACKEND-LOG.md holds every block the journal appended, and each chunk section lists exactly the files
    the journal recorded for that chunk up to its log; BLOCKERS.md is what the server wrote."""
    log_rel = story.paths.log
    state = derive(events)
    appended = [e for e in events if getattr(e, "log_append", "")]
    try:
        text = story.store.log_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if appended:
            return [Finding("log-mismatch", log_rel, "the journal records log entries but BACKEND-LOG.md is missing")]
        text = ""
    except UnicodeDecodeError:
        return [Finding("log-mismatch", log_rel, "BACKEND-LOG.md is not UTF-8 text: it was not written by the server")]
    findings: list[Finding] = []
    sections = logbook.parse_log(text)
    counts = Counter(s.number for s in sections)
    logged = {c.number: c for c in state.chunks if c.logged}
    reported: set[int] = set()
    for number, count in sorted(counts.items()):
        if count > 1:
            findings.append(
                Finding("log-mismatch", log_rel, f"{count} sections for chunk {number}; the server wrote one")
            )
            reported.add(number)
        if number not in logged:
            findings.append(
                Finding("log-mismatch", log_rel, f"a section for chunk {number}, which the journal never logged")
            )
            reported.add(number)
    by_number = {s.number: s for s in sections}
    for number, chunk in logged.items():
        section = by_number.get(number)
        if section is None:
            findings.append(
                Finding("log-mismatch", log_rel, f"chunk {number} was logged, but its section is not in the log")
            )
            reported.add(number)
            continue
        expected = [path for path, _ in logbook.collapse_changes(chunk.changes[: chunk.changes_at_log])]
        if list(section.files) != expected:
            missing = [p for p in expected if p not in section.files]
            extra = [p for p in section.files if p not in expected]
            parts = [f"missing {', '.join(missing)}"] if missing else []
            parts += [f"not recorded: {', '.join(extra)}"] if extra else []
            why = "; ".join(parts) or "listed in another order"
            findings.append(
                Finding(
                    "log-mismatch",
                    log_rel,
                    f"chunk {number}'s Files changed does not match the journal's record ({why})",
                )
            )
            reported.add(number)
    for event in appended:
        block: str = getattr(event, "log_append", "")
        if block.lstrip("\n") in text:
            continue
        if isinstance(event, ChunkLogged) and event.chunk in reported:
            continue  # already reported, more precisely
        findings.append(
            Finding(
                "log-mismatch",
                log_rel,
                f"{_block_name(event)} the journal records is not in BACKEND-LOG.md as the server wrote it",
            )
        )
    blocked = [e for e in events if isinstance(e, StoryBlocked)]
    if blocked:
        try:
            have = story.store.blockers_path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            have = None
        if have != blocked[-1].blockers:
            findings.append(
                Finding(
                    "log-mismatch",
                    story.paths.blockers,
                    "BLOCKERS.md is missing" if have is None else "BLOCKERS.md is not what the server wrote",
                )
            )
    return findings


# --- running it ----------------------------------------------------------------------------------------------


def run_audit(root: Path, story_id: str, *, policy_path: Path | None) -> Report:
    """Audit one story; raises UsageError (or another StoryfenceError) when the audit cannot run."""
    if not root.is_dir():
        raise UsageError(f"root {root} does not exist or is not a directory")
    if not git.is_work_tree(root):
        raise UsageError(f"{root} is not inside a git working tree: audit compares the story with git")
    policy, sources = load_policy(root.resolve(), policy_path)
    service = StoryfenceService(root, policy, policy_paths=sources)
    story = service.story(story_id)
    label = story.paths.journal
    records, broken = read_journal(story.store.journal, label)
    findings = [broken] if broken else []
    events = [r.event for r in records]
    base = base_commit(events)
    if base is not None and not git.commit_exists(service.root, base):
        findings.append(
            Finding(
                "base-missing",
                label,
                f"the first chunk's base commit {base[:12]} is not in this repo (rebased or not fetched: in CI, "
                "fetch the full history); compared with HEAD instead",
            )
        )
        base = None
    changed = git.changed_since(service.root, base)
    if changed is None:
        raise UsageError(f"git could not list the changes in {service.root}")
    changed = {p: k for p, k in changed.items() if not _SERVER_OWNED.match_file(p)}
    last = last_writes(events)
    judged, preexisting, again = split_preexisting(service.root, changed, last, baseline(events))
    findings += check_git(service, story, judged, last)
    findings += again
    findings += check_contents(service.root, last)
    findings += check_log(story, events)
    return Report(
        story=story.id,
        base_commit=base,
        recorded=len(last),
        changed=len(changed),
        findings=findings,
        preexisting=sorted(preexisting, key=lambda d: d.path),
    )


def render(report: Report) -> str:
    """One line per finding, then a summary."""
    since = f"since {report.base_commit[:12]}" if report.base_commit else "against HEAD"
    lines = [f"{f.kind}  {f.path}: {f.detail}" for f in report.findings]
    if report.preexisting:
        lines.append(
            f"already changed before the story began (not findings; {len(report.preexisting)} file(s), "
            "unchanged since):"
        )
        lines += [f"  {d.kind:<8}  {d.path}" for d in report.preexisting]
    if report.ok:
        lines.append(
            f"audit {report.story}: clean ({report.recorded} recorded path(s), {report.changed} changed in git {since})"
        )
    else:
        kinds = Counter(f.kind for f in report.findings)
        summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        lines.append(f"audit {report.story}: {len(report.findings)} finding(s) ({summary}); git compared {since}")
    return "\n".join(lines)


def audit(root: Path, story: str, *, policy_path: Path | None, as_json: bool) -> int:
    """Print the audit of `story`; exit 0 when clean, 1 on any finding, 2 when the audit cannot run."""
    try:
        report = run_audit(root, story, policy_path=policy_path)
    except StoryfenceError as exc:
        print(f"storyfence audit: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2) if as_json else render(report))
    return 0 if report.ok else 1
