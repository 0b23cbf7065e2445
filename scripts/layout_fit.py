"""How well storyfence fits real monorepos, counted against labels written before looking (issue 10).

Each `scripts/layout_fit/<name>.toml` names a public repo, the commit that was labelled, and gitignore-style
globs: `backend` (files a backend developer expects to write), `frontend`, `must_refuse` (env, compose,
Docker) and `ignore` (deliberately unlabelled). A file takes the first class that matches in the order
must_refuse > ignore > backend / frontend; a file that is both backend and frontend is a labelling error.

For each repo the labelled commit is exported (`git archive`) from a local bare mirror into a scratch dir,
`storyfence init` runs there (unless --builtin), and `storyfence check --json` decides every labelled file.

    .venv/bin/python scripts/layout_fit.py                      # every labels file, after `storyfence init`
    .venv/bin/python scripts/layout_fit.py --builtin dub        # one repo, the built-in policy only
    .venv/bin/python scripts/layout_fit.py dub --source /path/to/dub.git --json

Exit 0 only if every repo has >= --threshold % of its backend files allowed, no frontend or must_refuse file
allowed, and no labelling error. No network: the mirrors must already be on disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pathspec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if __package__ in (None, ""):  # run as a script: make `tests.support` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import console_script

LABELS_DIR = Path(__file__).resolve().parent / "layout_fit"
DEFAULT_MIRRORS = Path("/work/.mirror")
BATCH = 300
TOP = 10


@dataclass
class Labels:
    name: str
    repo: str
    commit: str
    mirror: str | None
    specs: dict[str, pathspec.GitIgnoreSpec]


@dataclass
class Result:
    name: str
    repo: str
    commit: str
    mode: str
    counts: dict[str, int]
    allowed: dict[str, list[str]]
    refused_backend: list[dict[str, str]]
    conflicts: list[str]
    init: str = ""
    errors: list[str] = field(default_factory=lambda: [])

    def backend_pct(self) -> float:
        n = self.counts["backend"]
        return 100.0 * len(self.allowed["backend"]) / n if n else 100.0

    def leaks(self) -> list[str]:
        return sorted(self.allowed["frontend"] + self.allowed["must_refuse"])

    def top_rules(self) -> list[dict[str, Any]]:
        by_rule: Counter[str] = Counter(d["rule"] for d in self.refused_backend)
        rows: list[dict[str, Any]] = []
        for rule, count in by_rule.most_common(TOP):
            first = next(d for d in self.refused_backend if d["rule"] == rule)
            rows.append({"rule": rule, "count": count, "pattern": first["pattern"], "example": first["path"]})
        return rows

    def ok(self, threshold: float) -> bool:
        return not self.errors and not self.conflicts and not self.leaks() and self.backend_pct() >= threshold


def load_labels(path: Path) -> Labels:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    specs = {
        cls: pathspec.GitIgnoreSpec.from_lines(cast("list[str]", data.get(cls, [])))
        for cls in ("backend", "frontend", "must_refuse", "ignore")
    }
    commit = str(data["commit"])
    if len(commit) != 40:
        raise SystemExit(f"{path}: commit must be a full 40-hex sha")
    mirror = data.get("mirror")
    return Labels(path.stem, str(data["repo"]), commit, str(mirror) if mirror else None, specs)


def classify(labels: Labels, files: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Each file's label class; files matching both backend and frontend are returned as conflicts."""
    out: dict[str, list[str]] = {"backend": [], "frontend": [], "must_refuse": []}
    conflicts: list[str] = []
    s = labels.specs
    for f in files:
        if s["must_refuse"].match_file(f):
            out["must_refuse"].append(f)
        elif s["ignore"].match_file(f):
            continue
        else:
            back, front = s["backend"].match_file(f), s["frontend"].match_file(f)
            if back and front:
                conflicts.append(f)
            elif back:
                out["backend"].append(f)
            elif front:
                out["frontend"].append(f)
    return out, conflicts


def git(git_dir: Path, *args: str) -> str:
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)} in {git_dir} failed: {done.stderr.strip()}")
    return done.stdout


def find_git_dir(labels: Labels, source: str | None, mirrors: Path) -> Path:
    candidates = [Path(source)] if source else []
    if labels.mirror:
        candidates.append(Path(labels.mirror))
    candidates.append(mirrors / labels.repo.replace("/", "+") / "repo")
    for c in candidates:
        if (c / "HEAD").is_file() or (c / ".git").exists():
            return c / ".git" if (c / ".git").is_dir() else c
    tried = ", ".join(str(c) for c in candidates)
    raise SystemExit(f"{labels.name}: no git mirror of {labels.repo} (tried {tried}); fetch it or pass --source")


def export(git_dir: Path, commit: str, dest: Path) -> list[str]:
    """Write the commit's tree into dest; mirrors may lack big blobs (>= 4 MiB), which are left out."""
    git(git_dir, "cat-file", "-e", f"{commit}^{{commit}}")
    blobs: dict[str, str] = {}
    for entry in git(git_dir, "ls-tree", "-r", "-z", commit).split("\0"):
        meta, _, name = entry.partition("\t")
        if name and meta.split()[1] == "blob":
            blobs[name] = meta.split()[2]
    check = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch-check"],
        input="\n".join(blobs.values()) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    absent = {line.split()[0] for line in check.stdout.splitlines() if line.endswith(" missing")}
    excludes = [f":(exclude,literal){n}" for n, sha in blobs.items() if sha in absent]
    archive = subprocess.Popen(
        ["git", f"--git-dir={git_dir}", "archive", commit, "--", ".", *excludes], stdout=subprocess.PIPE
    )
    untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, capture_output=True, check=False)
    if archive.stdout is not None:
        archive.stdout.close()
    if archive.wait() or untar.returncode:
        raise SystemExit(f"exporting {commit} from {git_dir} failed: {untar.stderr.decode(errors='replace')}")
    return [n for n in blobs if (dest / n).is_file() or (dest / n).is_symlink()]


def storyfence_cmd(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    local = console_script()
    found = str(local) if local is not None else shutil.which("storyfence")
    if not found:
        raise SystemExit("no storyfence executable: run `make setup` or pass --storyfence")
    return [found]


def decide(cmd: list[str], root: Path, paths: list[str]) -> dict[str, dict[str, Any]]:
    decisions: dict[str, dict[str, Any]] = {}
    for i in range(0, len(paths), BATCH):
        batch = paths[i : i + BATCH]
        done = subprocess.run(
            [*cmd, "check", "--root", str(root), "--json", *batch], cwd=root, capture_output=True, text=True
        )
        if done.returncode not in (0, 1):  # 1 only means some path was refused
            raise SystemExit(f"storyfence check failed ({done.returncode}): {done.stderr.strip()}")
        for d in cast("list[dict[str, Any]]", json.loads(done.stdout)):
            decisions[str(d["path"])] = d
    return decisions


def measure(labels: Labels, git_dir: Path, cmd: list[str] | None, builtin: bool, keep: bool) -> Result:
    """Export, classify and (unless `cmd` is None: labels only, no decision is asked) ask storyfence."""
    scratch = Path(tempfile.mkdtemp(prefix=f"layout-fit-{labels.name}-"))
    try:
        files = export(git_dir, labels.commit, scratch)
        classes, conflicts = classify(labels, files)
        init_out = ""
        if cmd is None:
            return Result(
                labels.name,
                labels.repo,
                labels.commit,
                "labels",
                {c: len(v) for c, v in classes.items()},
                {c: [] for c in classes},
                [],
                conflicts,
            )
        if not builtin:
            done = subprocess.run([*cmd, "init", "--root", str(scratch)], capture_output=True, text=True)
            init_out = (done.stdout + done.stderr).strip()
            if done.returncode:
                raise SystemExit(f"{labels.name}: storyfence init failed ({done.returncode}): {init_out}")
        labelled = [p for cls in classes.values() for p in cls]
        decisions = decide(cmd, scratch, labelled)
        missing = [p for p in labelled if p not in decisions]
        allowed = {cls: [p for p in ps if decisions.get(p, {}).get("allowed")] for cls, ps in classes.items()}
        refused = [
            {"path": p, "rule": str(d.get("rule")), "pattern": str(d.get("pattern") or "")}
            for p in classes["backend"]
            if not (d := decisions.get(p, {})).get("allowed")
        ]
        return Result(
            name=labels.name,
            repo=labels.repo,
            commit=labels.commit,
            mode="builtin" if builtin else "init",
            counts={cls: len(ps) for cls, ps in classes.items()},
            allowed=allowed,
            refused_backend=refused,
            conflicts=conflicts,
            init=init_out,
            errors=[f"no decision for {p}" for p in missing],
        )
    finally:
        if keep:
            print(f"kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def print_table(results: list[Result], threshold: float) -> None:
    print(f"{'repo':<22} {'mode':<8} {'backend':>8} {'allowed':>8} {'%':>7} {'front ok':>9} {'deny ok':>8}  verdict")
    for r in results:
        fr = f"{len(r.allowed['frontend'])}/{r.counts['frontend']}"
        mr = f"{len(r.allowed['must_refuse'])}/{r.counts['must_refuse']}"
        verdict = "-" if r.mode == "labels" else "PASS" if r.ok(threshold) else "FAIL"
        print(
            f"{r.name:<22} {r.mode:<8} {r.counts['backend']:>8} {len(r.allowed['backend']):>8} "
            f"{r.backend_pct():>6.1f}% {fr:>9} {mr:>8}  {verdict}"
        )
    for r in results:
        print(f"\n== {r.repo} @ {r.commit} ({r.mode})")
        for f in r.conflicts:
            print(f"  LABEL ERROR (backend and frontend): {f}")
        for e in r.errors:
            print(f"  ERROR: {e}")
        for f in r.leaks():
            print(f"  ALLOWED BUT MUST BE REFUSED: {f}")
        if r.refused_backend:
            print(f"  top refusal rules among {len(r.refused_backend)} refused backend files:")
            for row in r.top_rules():
                pat = f" `{row['pattern']}`" if row["pattern"] else ""
                print(f"    {row['count']:>5}  {row['rule']}{pat}  e.g. {row['example']}")


def to_json(r: Result, threshold: float) -> dict[str, Any]:
    return {
        "name": r.name,
        "repo": r.repo,
        "commit": r.commit,
        "mode": r.mode,
        "ok": r.ok(threshold),
        "backend": {"labelled": r.counts["backend"], "allowed": len(r.allowed["backend"]), "pct": r.backend_pct()},
        "frontend": {"labelled": r.counts["frontend"], "allowed": r.allowed["frontend"]},
        "must_refuse": {"labelled": r.counts["must_refuse"], "allowed": r.allowed["must_refuse"]},
        "top_refusal_rules": r.top_rules(),
        "refused_backend": r.refused_backend,
        "label_conflicts": r.conflicts,
        "errors": r.errors,
        "init_output": r.init,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("names", nargs="*", help="labels files (name or path; default: every scripts/layout_fit/*.toml)")
    p.add_argument("--source", help="the repo's git dir (only with one name)")
    p.add_argument("--mirror", default=str(DEFAULT_MIRRORS), help="folder of mirrors as OWNER+NAME/repo")
    p.add_argument("--builtin", action="store_true", help="skip `storyfence init`: measure the built-in policy")
    p.add_argument("--storyfence", help="the storyfence executable (default: the one beside this Python)")
    p.add_argument("--threshold", type=float, default=95.0, help="minimum %% of backend files allowed")
    p.add_argument("--keep", action="store_true", help="keep the scratch exports")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--labels-only", action="store_true", help="count labels and report conflicts; ask no decision")
    args = p.parse_args(argv)
    paths = [Path(n) if n.endswith(".toml") else LABELS_DIR / f"{n}.toml" for n in args.names]
    paths = paths or sorted(LABELS_DIR.glob("*.toml"))
    if args.source and len(paths) != 1:
        p.error("--source needs exactly one labels file")
    cmd = None if args.labels_only else storyfence_cmd(args.storyfence)
    results: list[Result] = []
    for path in paths:
        labels = load_labels(path)
        git_dir = find_git_dir(labels, args.source, Path(args.mirror))
        results.append(measure(labels, git_dir, cmd, args.builtin, args.keep))
    if args.json:
        print(json.dumps([to_json(r, args.threshold) for r in results], indent=2))
    else:
        print_table(results, args.threshold)
    if args.labels_only:
        return 1 if any(r.conflicts for r in results) else 0
    return 0 if all(r.ok(args.threshold) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
