"""storyfence benchmark: every speed and memory goal of the issues as a ratio against a reference measured
side by side in this one run (medians over interleaved repetitions). Reports; gates only with --strict.

    .venv/bin/python bench/run.py [--quick] [--strict] [--only 1,3] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.env import load_average, machine_info, setup_environment
from bench.stats import Comparison, render_details, render_table

FULL = {
    "hook_reps": 21,
    "search_reps": 15,
    "write_calls": 200,
    "read_calls": 200,
    "stdio_blocks": 8,
    "status_calls": 50,
    "start_reps": 20,
    "typecheck_reps": 21,
    "memory_reps": 5,
}
QUICK = {
    "hook_reps": 7,
    "search_reps": 5,
    "write_calls": 40,
    "read_calls": 40,
    "stdio_blocks": 2,
    "status_calls": 15,
    "start_reps": 6,
    "typecheck_reps": 3,
    "memory_reps": 3,
}
MEASURES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, noisier figures)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a primary ratio misses its goal")
    parser.add_argument("--only", default=",".join(MEASURES), help="measurements to run, e.g. 1,3 (default: all)")
    parser.add_argument("--json", type=Path, help="also write every sample and figure to this JSON file")
    parser.add_argument("--workdir", type=Path, help="where to build the temporary repos (default: a temp dir)")
    parser.add_argument("--files", type=int, default=40_000, help="tracked files in the generated monorepo")
    parser.add_argument("--no-explain", action="store_true", help="skip the start-up import/phase breakdown")
    args = parser.parse_args(argv)
    args.only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = [m for m in args.only if m not in MEASURES]
    if unknown:
        parser.error(f"unknown measurement(s) {unknown}; choose from {', '.join(MEASURES)}")
    return args


def say(message: str) -> None:
    print(message, flush=True)


async def _guard(
    key: str, title: str, goal: float, results: list[Comparison], job: Callable[[], Awaitable[list[Comparison]]]
) -> None:
    started = time.perf_counter()
    say(f"... [{key}] {title}")
    try:
        found = await job()
    except Exception as exc:  # a broken measurement is reported, the others still run
        traceback.print_exc()
        found = [Comparison(key=key, title=title, candidate="-", reference="-", goal=goal, error=repr(exc))]
    results.extend(found)
    say(f"    done in {time.perf_counter() - started:.0f} s")


async def run_all(
    args: argparse.Namespace, work: Path, errlog_path: Path
) -> tuple[list[Comparison], dict[str, list[str]]]:
    from bench import measures
    from bench.trees import BigRepo, generate_monorepo

    reps = QUICK if args.quick else FULL
    results: list[Comparison] = []
    explain: dict[str, list[str]] = {}
    with errlog_path.open("w") as errlog:
        hook_reps = reps.pop("hook_reps")
        s = measures.Settings(work=work, errlog=errlog, **reps)
        repo: BigRepo | None = None
        if "1" in args.only or "6" in args.only:
            started = time.perf_counter()
            repo = generate_monorepo(work, tracked=args.files)
            say(
                f"generated {repo.tracked_files:,} tracked + {repo.ignored_files:,} ignored files in "
                f"{time.perf_counter() - started:.0f} s"
            )
        if "1" in args.only and repo is not None:
            big = repo
            search_goal = measures.SEARCH_GOAL
            await _guard("1", "search_code vs rg", search_goal, results, lambda: measures.measure_search(s, big))
        if "2" in args.only:
            await _guard("2", "write_file round trip", 1.5, results, lambda: measures.measure_write(s))
            if not args.no_explain:
                from bench.profile_write import write_report

                fresh, grown = (measures.realistic_repo(work, f"profile-repo-{n}") for n in (1, 2))
                explain["write_file"] = write_report(fresh, grown)
        if "3" in args.only:
            await _guard("3", "start to tools/list", 1.1, results, lambda: measures.measure_start(s))
            if not args.no_explain:
                from bench.startup import import_report, phase_report

                root = measures.realistic_repo(work, "explain-repo")
                runs = 3 if args.quick else 7
                explain["start-up"] = [*phase_report(root, runs), "", *import_report(root, runs)]
        if "4" in args.only:
            await _guard("4", "run_typecheck vs pnpm", 1.05, results, lambda: measures.measure_typecheck(s))
        if "5" in args.only:
            await _guard("5", "peak memory", 1.2, results, lambda: measures.measure_memory(s))
        if "6" in args.only and repo is not None:
            from bench.scan import measure_scan

            scan_repo = repo
            scan_job = lambda: measure_scan(s.search_reps, scan_repo)  # noqa: E731
            await _guard("6", "boundary scan vs git status", 2.0, results, scan_job)
        if "7" in args.only:
            from bench.hook import HOOK_GOAL, initialised_repo, measure_hook, settled

            root = settled(measures.realistic_repo(work, "hook-repo"))
            committed = initialised_repo(measures.realistic_repo(work, "hook-repo-init"))

            async def hook_rows() -> list[Comparison]:
                learned = await measure_hook(hook_reps, root, label=" (layout learned each run)", primary=False)
                return [await measure_hook(hook_reps, committed, label=" (committed .storyfence.toml)"), learned]

            await _guard("7", "hook claude-code vs python -c pass", HOOK_GOAL, results, hook_rows)
        if "8" in args.only:
            await _guard("8", "read_file round trip", measures.READ_GOAL, results, lambda: measures.measure_read(s))
        if {"9", "10", "11"} & set(args.only):
            from bench import growth

            started = time.perf_counter()
            goal = growth.GROWTH_GOAL
            try:
                histories = await growth.build_histories(work)
            except Exception as exc:  # the rows that need them are reported broken, the rest still ran
                traceback.print_exc()
                for key in sorted({"9", "10", "11"} & set(args.only), key=int):
                    title = f"row {key}: building the stories' histories failed"
                    results.append(Comparison(key, title, "-", "-", goal, error=repr(exc)))
                return results, explain
            say(
                f"built the stories' histories ({growth.SMALL:,}, {growth.MIDDLE:,} and {growth.LARGE:,} recorded "
                f"writes) in {time.perf_counter() - started:.0f} s"
            )
            if "9" in args.only:
                job = lambda: growth.measure_write_growth(s, histories)  # noqa: E731
                await _guard("9", "write_file, 2,000 vs 20 recorded writes", goal, results, job)
            if "10" in args.only:
                job = lambda: growth.measure_status_growth(s, histories)  # noqa: E731
                await _guard("10", "story_status, 2,000 vs 20 recorded writes", goal, results, job)
            if "11" in args.only:
                job = lambda: growth.measure_start_growth(s, histories)  # noqa: E731
                await _guard("11", "server start, 2,000 vs 20 recorded writes", goal, results, job)
            if not args.no_explain and {"9", "10"} & set(args.only):
                explain["a long story"] = growth.growth_report(s, histories)
    return results, explain


def main(argv: Sequence[str] | None = None) -> int:
    import json

    import anyio

    args = parse_args(argv)
    setup_environment()
    say("storyfence benchmark" + (" (--quick)" if args.quick else ""))
    say(time.strftime("run at %Y-%m-%d %H:%M:%S %Z"))
    machine = machine_info()
    for name, value in machine:
        say(f"  {name:30} {value}")
    say(f"  {'load average at start':30} {load_average()}")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="storyfence-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        errlog = work / "servers-stderr.log"
        started = time.perf_counter()
        results, explain = anyio.run(run_all, args, work, errlog)
        server_errors = errlog.read_text(errors="replace").strip()
        elapsed = time.perf_counter() - started
    say("")
    say(render_table(results))
    say("")
    say("ratio = median(candidate) / median(reference); paired = median of the per-repetition ratios")
    say(render_details(results))
    for topic, lines in explain.items():
        say("")
        say(f"why {topic} costs what it does:")
        for line in lines:
            say(f"  {line}" if line else "")
    if server_errors:
        say("")
        say("servers' stderr (last lines):")
        for line in server_errors.splitlines()[-10:]:
            say(f"  {line}")
    say("")
    say(f"total {elapsed:.0f} s; load average at the end {load_average()}")
    if args.json is not None:
        payload = {
            "machine": dict(machine),
            "quick": args.quick,
            "results": [c.to_json() for c in results],
            "explain": explain,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    failed = [c for c in results if c.primary and not c.passed]
    if args.strict and failed:
        say(f"--strict: {len(failed)} goal(s) missed: {', '.join(c.key for c in failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
