"""Runs one typecheck command: argv only, no shell, a timeout that kills the whole process group,
output capped while it is drained, progress reported as it goes, and nothing left running if the server dies.

The command runs under a small supervisor (`SUPERVISOR`, a Python process that leads the command's process
group). Its stdin is a pipe from the server that the server never writes: when the server exits, however it
dies (SIGKILL included), the kernel closes the pipe, the supervisor reads end-of-file and kills the whole group.
This needs only POSIX pipes and process groups (Linux and macOS alike); the server's own timeout and
cleanup kill the group as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
from anyio.abc import Process

from storyfence.adapters.ports import Progress
from storyfence.core.diagnostics import parse_tsc_output, tail
from storyfence.core.models import CommandRun

TAIL_BYTES = 64 * 1024
PROGRESS_EVERY_SECONDS = 1.0


def command_env(base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    # plain, non-interactive, offline-friendly output that the diagnostics parser can read
    env.update({"NO_COLOR": "1", "FORCE_COLOR": "0", "TURBO_TELEMETRY_DISABLED": "1", "CI": "1"})
    env.pop("TERM", None)
    return env


SUPERVISOR = """
import os, signal, subprocess, sys, threading

def watch():
    # the server never writes to this pipe: end-of-file means the server is gone, however it died
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)  # this whole group: the command, its children and this supervisor

threading.Thread(target=watch, daemon=True).start()
try:
    child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
except OSError as exc:
    sys.stderr.write("could not start %s: %s\\n" % (sys.argv[1], exc.strerror or exc))
    os._exit(127)
code = child.wait()
os._exit(code if code >= 0 else 128 - code)
"""
"""Runs the command as its child and kills the process group when its stdin (a pipe from the server) closes."""


def _kill_group(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def run_command(
    argv: tuple[str, ...],
    *,
    package: str,
    package_dir: str,
    package_dirs: Mapping[str, str] | None = None,
    cwd: Path,
    timeout: float,
    output_cap: int,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> CommandRun:
    """Run `argv` in `cwd` and classify the result: passed, failed (type errors), tooling_error, timeout."""
    run_env = command_env(env if env is not None else os.environ)
    started = time.monotonic()
    if "/" in argv[0]:  # a tool inside the repo (node_modules/.bin/tsc): relative to cwd, not to the server
        executable = shutil.which(str(cwd / argv[0]), path="")
        where = f"in the repo (`{argv[0]}`)"
    else:
        executable = shutil.which(argv[0], path=run_env.get("PATH"))
        where = "on PATH"
    if executable is None:
        return CommandRun(
            argv=argv,
            package=package,
            exit_code=None,
            outcome="tooling_error",
            duration_seconds=0.0,
            note=f"`{argv[0]}` was not found {where}: the typecheck tool is not installed (a tooling problem, "
            "not a type error). Ask the user to install it; this does not count as a fix attempt.",
        )
    head = bytearray()
    tail_buf = bytearray()
    total = 0
    timed_out = False
    exit_code: int | None = None
    try:
        process = await anyio.open_process(
            [sys.executable, "-I", "-c", SUPERVISOR, executable, *argv[1:]],
            cwd=cwd,
            env=run_env,
            stdin=subprocess.PIPE,  # held open, never written: it closes when this server dies
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandRun(
            argv=argv,
            package=package,
            exit_code=None,
            outcome="tooling_error",
            duration_seconds=time.monotonic() - started,
            note=f"could not start `{argv[0]}`: {exc.strerror or exc}",
        )
    try:
        if progress is not None:
            await progress(f"running {' '.join(argv)}")
        last_progress = time.monotonic()
        with anyio.move_on_after(timeout) as scope:
            assert process.stdout is not None
            async for block in process.stdout:
                total += len(block)
                if len(head) < output_cap:
                    head.extend(block[: output_cap - len(head)])
                tail_buf.extend(block)
                if len(tail_buf) > TAIL_BYTES:
                    del tail_buf[: len(tail_buf) - TAIL_BYTES]
                if progress is not None and time.monotonic() - last_progress >= PROGRESS_EVERY_SECONDS:
                    last_progress = time.monotonic()
                    await progress(f"{package}: {total:,} bytes of output so far")
            exit_code = await process.wait()
        if scope.cancelled_caught:
            timed_out = True
    finally:
        if process.returncode is None:
            _kill_group(process)
            with anyio.CancelScope(shield=True):
                await process.wait()
        else:
            _kill_group(process)  # grandchildren that outlived the leader (tsc watch, turbo daemons)
        await process.aclose()
    duration = time.monotonic() - started
    text = head.decode("utf-8", errors="replace")
    if total > len(head):
        text += "\n[... output capped ...]\n" + tail_buf.decode("utf-8", errors="replace")
    diagnostics = parse_tsc_output(text, package_dir=package_dir, package_dirs=package_dirs)
    errors = tuple(d for d in diagnostics if d.severity == "error")
    output_tail = tail(text)
    if timed_out:
        return CommandRun(
            argv=argv,
            package=package,
            exit_code=None,
            outcome="timeout",
            duration_seconds=duration,
            diagnostics=diagnostics,
            output_tail=output_tail,
            note=f"killed after {timeout:g}s (the whole process group): a tooling problem, not a type error.",
        )
    if exit_code == 0:
        outcome = "passed"
        note = ""
    elif errors:
        outcome = "failed"
        note = f"{len(errors)} type error(s)"
    else:
        outcome = "tooling_error"
        note = (
            f"`{argv[0]}` exited {exit_code} without any TypeScript diagnostic: a tooling failure "
            "(see the output), not a type error; it does not count as a fix attempt."
        )
    return CommandRun(
        argv=argv,
        package=package,
        exit_code=exit_code,
        outcome=outcome,
        duration_seconds=duration,
        diagnostics=diagnostics,
        output_tail=output_tail,
        note=note,
    )
