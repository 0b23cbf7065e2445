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

With `--changed-since REF` it audits every story whose folder changed between where HEAD left REF (their
merge base: what a pull request changes) and the working tree; a story not started yet (no journal) is skipped.
The findings print as text, JSON, SARIF 2.1.0 or GitHub workflow annotations (audit_formats.py).

Exit 0 when clean (pre-existing files included), 1 on any finding, 2 when an audit cannot run (unknown story,
not a git repo, bad policy, an unknown REF); with several stories, 2 wins over 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from storyfence.adapters import git
from storyfence.adapters.policy_file import load_policy
from storyfence.app.repo import Story
from storyfence.app.service import StoryfenceService
from storyfence.commands import audit_formats
from storyfence.commands.audit_journal import Finding, base_commit, baseline, check_log, last_writes, read_journal
from storyfence.core.errors import StoryfenceError
from storyfence.core.events import DirtyFile
from storyfence.core.models import FileChange
from storyfence.core.story_paths import is_server_owned, story_of

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
    files: dict[str, str] = field(default_factory=lambda: dict[str, str]())  # what git says changed, and how

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
            "findings": [{k: v for k, v in asdict(f).items() if k != "line" or v is not None} for f in self.findings],
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
        files=dict(sorted(changed.items())),
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


Format = Literal["text", "json", "sarif", "github"]


@dataclass(frozen=True)
class Selection:
    """The stories `--changed-since REF` picked: compared from `base` (REF's merge base with HEAD)."""

    ref: str
    base: str
    stories: list[str]
    skipped: list[str]  # a story folder that changed but has nothing to audit, and why


def changed_stories(root: Path, ref: str, *, policy_path: Path | None) -> Selection:
    """Every story whose folder (its inputs, log or journal) changed since `ref`; raises UsageError."""
    if not git.is_work_tree(root):
        raise UsageError(f"{root} is not inside a git working tree: --changed-since compares with git")
    base = git.merge_base(root, ref)
    if base is None:
        raise UsageError(
            f"--changed-since {ref}: no such commit, or none shared with HEAD (in CI, check out the full "
            "history: fetch-depth: 0)"
        )
    changed = git.changed_since(root, base)
    if changed is None:
        raise UsageError(f"git could not list the changes in {root} since {ref}")
    policy, sources = load_policy(root.resolve(), policy_path)
    found = {story_of(path, policy.stories.folders, policy.stories.id_pattern) for path in changed}
    service = StoryfenceService(root, policy, policy_paths=sources)
    stories: list[str] = []
    skipped: list[str] = []
    for story_id in sorted(s for s in found if s is not None):
        try:
            story = service.story(story_id)
        except StoryfenceError:
            skipped.append(f"{story_id}: its folder is gone")
            continue
        if story.store.journal.exists():
            stories.append(story.id)
        else:
            skipped.append(f"{story_id}: not started (no journal)")
    return Selection(ref=ref, base=base, stories=stories, skipped=skipped)


def _output(root: Path, fmt: Format, reports: list[Report], selection: Selection | None, errors: list[str]) -> str:
    if fmt == "sarif":
        return json.dumps(audit_formats.sarif(root, reports, errors), indent=2)
    if fmt == "github":
        return "\n".join(audit_formats.github(root, reports, errors))
    if fmt == "json":
        if selection is None:
            return json.dumps(reports[0].as_dict(), indent=2)
        document = {
            "changed_since": selection.ref,
            "base": selection.base,
            "ok": not errors and all(r.ok for r in reports),
            "stories": [r.as_dict() for r in reports],
            "skipped": selection.skipped,
            "errors": errors,
        }
        return json.dumps(document, indent=2)
    parts: list[str] = []
    if selection is not None:
        named = ", ".join(selection.stories) or "none to audit"
        parts.append(f"stories changed since {selection.ref} (merge base {selection.base[:12]}): {named}")
        parts += [f"  skipped {note}" for note in selection.skipped]
    parts += [render(report) for report in reports]
    return "\n\n".join(parts)


def audit(
    root: Path,
    story: str | None,
    *,
    policy_path: Path | None,
    as_json: bool = False,
    fmt: Format = "text",
    changed_since: str | None = None,
) -> int:
    """Print the audit of `story`, or of every story changed since `changed_since`, in `fmt` (`as_json`: the
    JSON format); exit 0 when clean, 1 on any finding, 2 when an audit cannot run."""
    fmt = "json" if as_json else fmt
    selection: Selection | None = None
    try:
        if changed_since is not None:
            selection = changed_stories(root, changed_since, policy_path=policy_path)
            story_ids = selection.stories
        elif story is not None:
            story_ids = [story]
        else:
            raise UsageError("name a STORY, or --changed-since REF")
    except StoryfenceError as exc:
        print(f"storyfence audit: {exc}", file=sys.stderr)
        return 2
    reports: list[Report] = []
    errors: list[str] = []
    for story_id in story_ids:
        try:
            reports.append(run_audit(root, story_id, policy_path=policy_path))
        except StoryfenceError as exc:
            errors.append(f"{story_id}: {exc}")
    if selection is None and errors:  # one story that cannot be audited: nothing to print but why
        print(f"storyfence audit: {errors[0].split(': ', 1)[1]}", file=sys.stderr)
        return 2
    print(_output(root, fmt, reports, selection, errors))
    for error in errors:
        print(f"storyfence audit: {error}", file=sys.stderr)
    return 2 if errors else 0 if all(r.ok for r in reports) else 1
