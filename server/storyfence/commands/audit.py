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

from storyfence.adapters import git
from storyfence.adapters.policy_file import load_policy
from storyfence.app.repo import Story
from storyfence.app.service import StoryfenceService
from storyfence.commands.audit_journal import Finding, base_commit, baseline, check_log, last_writes, read_journal
from storyfence.core.errors import StoryfenceError
from storyfence.core.events import DirtyFile
from storyfence.core.models import FileChange
from storyfence.core.story_paths import is_server_owned

# Any story's server-owned files: each story's own audit checks its log and journal; another story's
# files changing in the same range is not this story's finding.


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


# --- git -----------------------------------------------------------------------------------------------------


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
    changed = {p: k for p, k in changed.items() if not is_server_owned(p)}
    last = last_writes(events)
    judged, preexisting, again = split_preexisting(service.root, changed, last, baseline(events))
    findings += check_git(service, story, judged, last)
    findings += again
    findings += check_contents(service.root, last)
    findings += check_log(
        events,
        log=story.store.log_path,
        log_rel=story.paths.log,
        blockers=story.store.blockers_path,
        blockers_rel=story.paths.blockers,
    )
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
