"""Changes made around the server (the agent's own Write, Edit or shell) are seen at every chunk boundary,
judged like writes, and kept in the journal and the log; refusals are kept as evidence. In-process, on a
git copy of the example monorepo, with a fake typecheck runner (no pnpm)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.commands.audit import run_audit
from storyfence.core.errors import Refused, WorkflowError
from storyfence.core.models import PortsAdapters, Reuse
from tests.support.stories import ScriptedRunner, git_example

STORY = "STORY-042"
LOG = f"{STORY}/_implementation/BACKEND-LOG.md"
BY_SERVER = "packages/core/src/orders/cancel-order.ts"
BY_HAND = "packages/core/src/orders/extra.ts"
UI = "apps/web/components/CancelButton.tsx"
REUSE = Reuse(reused="findOrder", new="cancelOrder", why_new="no cancel use case existed")
PORTS = PortsAdapters(core="the use case", adapters="none yet")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_example(tmp_path / "repo", node_modules=False)


@pytest.fixture
def service(repo: Path) -> StoryfenceService:
    return StoryfenceService(repo, load_builtin(), run_command=ScriptedRunner([]))


def typecheck(service: StoryfenceService) -> str:
    return anyio.run(service.run_typecheck, STORY).message


def test_an_in_scope_file_written_around_the_server_joins_the_chunk_its_typecheck_and_its_log(
    repo: Path, service: StoryfenceService
) -> None:
    service.begin_chunk(STORY, "cancelOrder use case", "cancel an order in core")
    service.write_file(STORY, BY_SERVER, "export const cancelOrder = 1;\n")
    (repo / BY_HAND).write_text("export const extra = 2;\n", encoding="utf-8")  # the agent's own Write tool

    typecheck(service)
    chunk = service.story_status(STORY).chunks[0]
    assert [(f.path, f.outside) for f in chunk.files] == [(BY_SERVER, False), (BY_HAND, True)]
    assert chunk.typecheck == "passed"

    logged = service.append_chunk_log(STORY, "added cancelOrder", REUSE, PORTS, "none")
    assert logged.chunk_closed is True
    assert f"`{BY_HAND}` (created, made outside storyfence)" in (repo / LOG).read_text(encoding="utf-8")
    assert f"`{BY_SERVER}` (created)" in (repo / LOG).read_text(encoding="utf-8")
    report = run_audit(repo, STORY, policy_path=None)
    assert report.findings == []


def test_an_out_of_scope_file_written_around_the_server_keeps_the_chunk_open_until_restore_file_undoes_it(
    repo: Path, service: StoryfenceService
) -> None:
    service.begin_chunk(STORY, "cancelOrder use case", "cancel an order in core")
    service.write_file(STORY, BY_SERVER, "export const cancelOrder = 1;\n")
    (repo / UI).write_text("export const Button = () => null;\n", encoding="utf-8")
    (repo / "packages/core/src/orders/order.ts").write_text("// edited by hand\n", encoding="utf-8")

    message = typecheck(service)
    status = service.story_status(STORY)
    assert [s.path for s in status.strays] == [UI]
    assert "restore_file" in message
    assert "restore_file" in status.next_step
    assert status.chunks[0].closed is False
    assert service.append_chunk_log(STORY, "s", REUSE, PORTS, "n").chunk_closed is False
    with pytest.raises(WorkflowError, match=UI):
        service.begin_chunk(STORY, "next", "o")

    restored = service.restore_file(STORY, UI)
    assert not (repo / UI).exists()
    assert restored.restored.startswith("deleted")
    status = service.story_status(STORY)
    assert status.strays == []
    assert status.chunks[0].closed is True  # logged, passed, and nothing refused is left: it closes
    assert report_findings(repo) == []


def test_a_stray_undone_by_hand_is_seen_undone_at_the_next_boundary(repo: Path, service: StoryfenceService) -> None:
    service.begin_chunk(STORY, "n", "o")
    service.write_file(STORY, BY_SERVER, "export const cancelOrder = 1;\n")
    (repo / UI).write_text("export const Button = () => null;\n", encoding="utf-8")
    typecheck(service)
    assert [s.path for s in service.story_status(STORY).strays] == [UI]
    (repo / UI).unlink()
    service.append_chunk_log(STORY, "s", REUSE, PORTS, "n")
    status = service.story_status(STORY)
    assert status.strays == []
    assert status.chunks[0].closed is True


def test_restore_file_refuses_a_path_that_is_not_a_refused_outside_change(service: StoryfenceService) -> None:
    service.begin_chunk(STORY, "n", "o")
    with pytest.raises(Exception, match="not a refused change made outside storyfence"):
        service.restore_file(STORY, BY_SERVER)


def test_refused_writes_are_evidence_counted_by_rule_in_the_status_and_the_log(
    repo: Path, service: StoryfenceService
) -> None:
    service.begin_chunk(STORY, "n", "o")
    for path in (UI, "apps/web/components/Other.tsx", ".env"):
        with pytest.raises(Refused):
            service.write_file(STORY, path, "x\n")
    refused = service.story_status(STORY).chunks[0].refused
    assert sum(refused.values()) == 3
    service.write_file(STORY, BY_SERVER, "export const cancelOrder = 1;\n")
    typecheck(service)
    service.append_chunk_log(STORY, "s", REUSE, PORTS, "n")
    log = (repo / LOG).read_text(encoding="utf-8")
    assert "refused by storyfence: 3 writes (" in log
    for rule in refused:
        assert f"`{rule}`" in log


def test_complete_story_refuses_while_an_outside_change_waits_for_a_chunk(
    repo: Path, service: StoryfenceService
) -> None:
    service.begin_chunk(STORY, "n", "o")
    service.write_file(STORY, BY_SERVER, "export const cancelOrder = 1;\n")
    typecheck(service)
    service.append_chunk_log(STORY, "s", REUSE, PORTS, "n")
    (repo / BY_HAND).write_text("export const late = 1;\n", encoding="utf-8")
    with pytest.raises(WorkflowError, match=BY_HAND):
        service.complete_story(STORY)
    service.begin_chunk(STORY, "take it in", "o")
    [taken] = service.story_status(STORY).chunks
    assert (taken.number, [f.path for f in taken.files]) == (2, [BY_HAND])


def report_findings(repo: Path) -> list[str]:
    return [f"{f.kind} {f.path}" for f in run_audit(repo, STORY, policy_path=None).findings]
