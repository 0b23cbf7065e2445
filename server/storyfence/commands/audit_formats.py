"""The audit's findings as CI reads them: SARIF 2.1.0 for code scanning, and workflow commands for GitHub's
annotations. Each finding points at its file (relative to the git repo, as CI checks it out) and, when there is
one, at a line: the journal line that broke its chain, a log section's heading, or the first line of a changed
file that differs from the story's base commit, so the finding sits on the pull request's diff.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from storyfence import __version__
from storyfence.adapters import git
from storyfence.commands.audit_journal import Finding
from storyfence.commands.file_changes import FileChanges

if TYPE_CHECKING:
    from storyfence.commands.audit import Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

RULES: dict[str, tuple[str, str]] = {
    "changed-outside-server": (
        "A file changed that storyfence never wrote",
        "git says the file changed since the story began, but the story's journal records no write of it: it was "
        "changed outside the guarded tools (by hand, by another tool, or by a shell command).",
    ),
    "content-differs": (
        "A file is not what storyfence last wrote",
        "The file's content is not the content the server recorded for its last write: it was edited outside the "
        "server after storyfence wrote it.",
    ),
    "out-of-policy": (
        "A changed file the policy or the story's scope refuses",
        "The policy (or the story's SCOPE.md) refuses writes to this path: a backend story must not change it.",
    ),
    "log-mismatch": (
        "BACKEND-LOG.md or BLOCKERS.md does not match the journal",
        "The server writes the log from its own records; a section that differs from the journal was edited, "
        "added or removed by hand.",
    ),
    "journal-broken": (
        "The story's journal does not verify",
        "Each journal record carries the hash of the one before; a record edited, removed or reordered by hand "
        "breaks the chain.",
    ),
    "base-missing": (
        "The story's base commit is not in the repository",
        "The commit HEAD pointed at when the story began is gone (rebased, or not fetched): the comparison falls "
        "back to HEAD. In CI, check out the full history (fetch-depth: 0).",
    ),
}
"""Every finding kind (commands/audit.py lists them), as a SARIF rule: a short and a full description."""

_CHUNK = re.compile(r"\bchunk (\d{1,9})\b")


@dataclass(frozen=True)
class Located:
    """A finding with where CI shows it: `uri` relative to the git repo's top, `line` when known."""

    story: str
    finding: Finding
    uri: str
    line: int | None


def _log_line(root: Path, finding: Finding) -> int | None:
    """The heading of the chunk a log finding names, in the log as it is now."""
    match = _CHUNK.search(finding.detail)
    try:
        text = (root / finding.path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if match is None:
        return 1 if text else None
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"#{{2,3}} Chunk {match[1]}\b", line):
            return number
    return None


def locate(root: Path, reports: Sequence[Report]) -> list[Located]:
    """Every finding of `reports`, each with its path relative to the repo's top and its line."""
    prefix = git.show_prefix(root)
    found: list[Located] = []
    for report in reports:
        changes = FileChanges(root, report.base_commit)
        for finding in report.findings:
            line = finding.line
            if line is None and finding.kind == "log-mismatch":
                line = _log_line(root, finding)
            elif line is None and finding.kind in ("changed-outside-server", "content-differs", "out-of-policy"):
                line = changes.first_line(finding.path)
            found.append(Located(report.story, finding, prefix + finding.path, line))
    return found


# --- SARIF ----------------------------------------------------------------------------------------------------


def _fingerprint(item: Located) -> str:
    key = "\0".join((item.story, item.finding.kind, item.uri))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def sarif(root: Path, reports: Sequence[Report], errors: Sequence[str] = ()) -> dict[str, object]:
    """One SARIF 2.1.0 log with one run: a rule per finding kind, a result per finding (level error)."""
    kinds = list(RULES)
    rules = [
        {
            "id": kind,
            "name": "".join(word.capitalize() for word in kind.split("-")),
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "help": {"text": full},
            "defaultConfiguration": {"level": "error"},
        }
        for kind, (short, full) in RULES.items()
    ]
    results: list[dict[str, object]] = []
    for item in locate(root, reports):
        physical: dict[str, object] = {"artifactLocation": {"uri": quote(item.uri, safe="/")}}
        if item.line is not None:
            physical["region"] = {"startLine": item.line}
        results.append(
            {
                "ruleId": item.finding.kind,
                "ruleIndex": kinds.index(item.finding.kind) if item.finding.kind in RULES else -1,
                "level": "error",
                "message": {"text": f"{item.story}: {item.finding.detail}"},
                "locations": [{"physicalLocation": physical}],
                "partialFingerprints": {"storyfenceFinding/v1": _fingerprint(item)},
                "properties": {"story": item.story},
            }
        )
    invocation: dict[str, object] = {"executionSuccessful": not errors}
    if errors:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": e}} for e in errors]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "storyfence",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": "storyfence/audit/"},
                "invocations": [invocation],
                "results": results,
                "properties": {"stories": [r.story for r in reports]},
            }
        ],
    }


# --- GitHub workflow commands -----------------------------------------------------------------------------------


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github(root: Path, reports: Sequence[Report], errors: Sequence[str] = ()) -> list[str]:
    """An `::error` annotation per finding (on its file and line), then one summary line per story."""
    lines: list[str] = []
    for item in locate(root, reports):
        where = f"file={_property(item.uri)}"
        if item.line is not None:
            where += f",line={item.line}"
        title = _property(f"storyfence {item.story}: {item.finding.kind}")
        lines.append(f"::error {where},title={title}::{_data(item.finding.detail)}")
    lines += [f"::error title=storyfence audit::{_data(error)}" for error in errors]
    for report in reports:
        verdict = "clean" if report.ok else f"{len(report.findings)} finding(s)"
        lines.append(f"storyfence audit {report.story}: {verdict}")
    return lines
