"""Decisions that prove who made them: a decision counts only if a key the run trusts
signed it, for that run and that call; anything else is refused by the `decide`
update's validator, before it reaches history, and nothing runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.history_reading import task_failed
from tests.support.ledger import CUSTOMER, connect
from tests.support.order_desk import ORDER_DESK
from tests.support.processes import target
from tests.support.waiting import until
from tether import (
    AgentRegistry,
    AgentResult,
    AgentRun,
    ApprovalDecision,
    ApproverKeys,
    ConfigurationError,
    PendingApproval,
    Signer,
)
from tether._codec import WORKFLOW_ID, EncryptionCodec
from tether._signing import Binding, check_signature
from tether._temporal import TETHER_CONVERTER, with_codec
from tether.testing import ScriptedLLM, binary, call_tools, say, wait_for_approvals, worker
from tether.workflow import AgentWorkflow

Handle = WorkflowHandle[AgentWorkflow, AgentResult]
REFUND = ("issue_refund", {"order_id": "A-1001", "reason": "arrived broken"})
ALICE, BOB = Signer.generate(name="alice@shop"), Signer.generate(name="bob@shop")
SERVICE = Signer.generate()  # an approval service's: it signs for whom it authenticated
TRUSTED = ApproverKeys(
    keys={ALICE.public_key: ["alice@shop"], BOB.public_key: ["bob@shop"], SERVICE.public_key: ["*"]}
)
GUARDED = AgentRegistry(
    [dataclasses.replace(ORDER_DESK, approvers=["alice@shop", "ada@shop"], approver_keys=TRUSTED)]
)


@asynccontextmanager
async def waiting_runs(
    env: WorkflowEnvironment,
    llm: ScriptedLLM,
    count: int = 1,
    *,
    agents: AgentRegistry = GUARDED,
    client: Client | None = None,
) -> AsyncIterator[list[tuple[Handle, PendingApproval]]]:
    """`count` order-desk runs that each wait for a person to approve REFUND (the same
    call id in each, as a provider that numbers calls per message gives), with a worker
    running while the block does."""
    client = client or env.client
    # Each run's first model call asks for the refund, each run's next one answers.
    llm.enqueue(*[call_tools(REFUND, ids=["call_0"])] * count, *[say("Refunded.")] * count)
    async with worker(client, agents, llm) as w:
        runs = []
        for _ in range(count):
            run = await AgentRun.start(
                client, "order-desk", "Refund A-1001.", id=f"signed-{uuid.uuid4().hex[:8]}",
                task_queue=w.task_queue, acting_for=CUSTOMER,
            )  # fmt: skip
            handle = run.handle
            (call,) = await wait_for_approvals(handle)
            runs.append((handle, call))
        yield runs


def signed(
    signer: Signer, handle: Handle, call: PendingApproval, **fields: object
) -> ApprovalDecision:
    assert handle.first_execution_run_id
    decision = ApprovalDecision.model_validate({"call_id": call.call_id, "approve": True, **fields})
    return signer.sign(
        decision,
        call=call,
        namespace="default",
        workflow_id=handle.id,
        first_run_id=handle.first_execution_run_id,
    )


async def refused(handle: Handle, decision: ApprovalDecision) -> str:
    """Why the run's validator refused `decision` (one line)."""
    with pytest.raises(WorkflowUpdateFailedError) as error:
        await handle.execute_update(AgentWorkflow.decide, decision)
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    assert "\n" not in cause.message
    return cause.message


def refunds(db: Path) -> list[tuple[str, str | None]]:
    """Each refund's order and approver (the ledger is seeded if no tool ran yet)."""
    with connect(db) as ledger:
        return [tuple(row) for row in ledger.execute("SELECT order_id, approved_by FROM refunds")]


async def accepted_updates(handle: Handle) -> int:
    kind = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum([e.event_type == kind async for e in handle.fetch_history_events()])


async def test_a_raw_update_claiming_a_listed_approver_is_refused_before_history(
    dev_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    # The review's case, with the `temporal` CLI: any caller who may send an update
    # wrote a listed approver's name into it, and the refund ran.
    async with waiting_runs(dev_env, llm) as [(handle, call)]:
        claim = {"call_id": call.call_id, "approve": True, "digest": call.digest}
        # In a thread: the worker runs on this event loop, and must answer meanwhile.
        raw = await asyncio.to_thread(
            subprocess.run,
            [binary("temporal"), "workflow", "update", "execute", "--address", target(dev_env),
             "-w", handle.id, "--name", "decide", "--identity", "mallory@evil",
             "--input", json.dumps({**claim, "approver": "alice@shop"})],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        mallory = Signer.generate(name="alice@shop")  # a key of her own, claiming alice
        refusals = [
            await refused(handle, signed(mallory, handle, call)),
            await refused(handle, signed(BOB, handle, call, approver="alice@shop")),
            await refused(handle, signed(BOB, handle, call)),  # trusted, not an approver
        ]
        assert await accepted_updates(handle) == 0
        assert refunds(ledger) == []
        await handle.execute_update(AgentWorkflow.decide, signed(ALICE, handle, call))
        result = await handle.result()

    assert raw.returncode != 0
    assert "decision refused: it is unsigned" in raw.stdout + raw.stderr
    assert refusals[0].startswith("decision refused: signed by a key this run does not trust")
    assert refusals[1].endswith(f"may not sign for {'alice@shop'!r}")
    assert refusals[2] == "'bob@shop' is not among this agent's approvers"
    assert result.status == "completed"
    assert refunds(ledger) == [("A-1001", "alice@shop")]
    assert await accepted_updates(handle) == 1


async def test_a_decision_copied_to_another_run_is_refused(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM
) -> None:
    # Same call id, same arguments, same digest: only the run tells them apart.
    async with waiting_runs(ts_env, llm, 2) as [(first, call), (second, other)]:
        assert (call.call_id, call.digest) == (other.call_id, other.digest)
        decision = signed(ALICE, first, call)
        copied = await refused(second, decision)
        await first.execute_update(AgentWorkflow.decide, decision)
        await second.execute_update(AgentWorkflow.decide, signed(ALICE, second, other))
        results = [await first.result(), await second.result()]

    assert copied == (
        "decision refused: its signature does not verify for this run and call "
        "(made for another, or altered)"
    )
    assert [r.status for r in results] == ["completed", "completed"]


async def test_an_encrypted_decision_replayed_by_a_client_without_the_keys_is_not_read(
    dev_env: WorkflowEnvironment, ledger: Path
) -> None:
    # A deployment without signatures, with encryption: a client without the keys cannot
    # write a decision, and copying run 1's sealed decision onto run 2 must not work
    # either (it did while a ciphertext was bound to its key only).
    sealed = with_codec(TETHER_CONVERTER, EncryptionCodec({"k1": os.urandom(32)}, "k1"))
    client = await Client.connect(target(dev_env), data_converter=sealed)
    anyone = AgentRegistry([ORDER_DESK])
    unsigned = ApproverKeys(unsigned=True)
    with ScriptedLLM() as llm:
        llm.enqueue(*[call_tools(REFUND, ids=["call_0"])] * 2, say("Refunded."))
        async with worker(client, anyone, llm, approver_keys=unsigned) as w:
            runs = []
            for _ in range(2):
                run = await AgentRun.start(
                    client, "order-desk", "Refund.", id=f"sealed-{uuid.uuid4().hex[:8]}",
                    task_queue=w.task_queue, acting_for=CUSTOMER,
                )  # fmt: skip
                runs.append((run.handle, (await wait_for_approvals(run.handle))[0]))
            (first, call), (second, _) = runs
            decision = ApprovalDecision(
                call_id=call.call_id, approve=True, digest=call.digest, approver="alice"
            )
            await first.execute_update(AgentWorkflow.decide, decision)
            accepted = [
                e.workflow_execution_update_accepted_event_attributes
                async for e in first.fetch_history_events()
                if e.HasField("workflow_execution_update_accepted_event_attributes")
            ]
            payload = accepted[0].accepted_request.input.args.payloads[0]
            keyless = dev_env.client.get_workflow_handle(second.id)
            with pytest.raises(WorkflowUpdateRPCTimeoutOrCancelledError):
                await keyless.execute_update(
                    "decide", RawValue(payload), rpc_timeout=timedelta(seconds=5)
                )

            await until(
                lambda: task_failed(second), "the worker read a decision sealed for another run"
            )
            await first.result()
            assert await accepted_updates(second) == 0
            await second.terminate("done")

    assert payload.metadata[WORKFLOW_ID] == first.id.encode()
    assert refunds(ledger) == [("A-1001", "alice")]


async def test_a_web_backend_signs_with_one_key_for_the_person_it_signed_in(
    ts_env: WorkflowEnvironment, llm: ScriptedLLM, ledger: Path
) -> None:
    async with waiting_runs(ts_env, llm) as [(handle, call)]:
        run = AgentRun(handle, client=ts_env.client)
        with pytest.raises(ValueError, match="say who decides"):
            await run.approve(call, signer=SERVICE)
        await run.approve(call, signer=SERVICE, approver="ada@shop")
        result = await run.result()

    assert result.status == "completed"
    assert refunds(ledger) == [("A-1001", "ada@shop")]


def test_a_signature_covers_every_field_of_the_decision_and_the_run() -> None:
    call = PendingApproval(
        call_id="call_0", tool="issue_refund", arguments="{}", turn=3,
        expires_at=datetime(2026, 12, 2, tzinfo=UTC), digest="0123456789abcdef",
    )  # fmt: skip
    now = datetime.now(UTC)
    binding = Binding("default", "ticket-7", "run-1")
    decision = ALICE.sign(
        ApprovalDecision(call_id="call_0", approve=True, reason="ok"),
        call=call,
        namespace="default",
        workflow_id="ticket-7",
        first_run_id="run-1",
    )
    check_signature(TRUSTED, decision, call, binding, now=now)  # as signed: good

    def why(
        d: ApprovalDecision = decision,
        c: PendingApproval = call,
        b: Binding = binding,
        keys: ApproverKeys = TRUSTED,
    ) -> str:
        with pytest.raises(ValueError) as error:
            check_signature(keys, d, c, b, now=now)
        return str(error.value)

    altered = [
        why(decision.model_copy(update={"approve": False})),
        why(decision.model_copy(update={"reason": "other"})),
        why(decision.model_copy(update={"arguments": '{"order_id": "A-1004"}'})),
        why(decision.model_copy(update={"signed_at": now - timedelta(seconds=1)})),
        why(c=call.model_copy(update={"turn": 4})),
        why(c=call.model_copy(update={"call_id": "call_1"})),
        why(c=call.model_copy(update={"digest": "fedcba9876543210"})),
        why(b=Binding("other", "ticket-7", "run-1")),
        why(b=Binding("default", "ticket-8", "run-1")),
        why(b=Binding("default", "ticket-7", "run-2")),
    ]
    assert set(altered) == {
        "decision refused: its signature does not verify for this run and call "
        "(made for another, or altered)"
    }
    renamed = decision.model_copy(update={"approver": "bob@shop"})
    assert why(renamed) == "decision refused: key " + why(renamed).split("key ")[1]
    assert why(renamed).endswith("may not sign for 'bob@shop'")
    late = ALICE.sign(decision, call=call, namespace="default", workflow_id="ticket-7",
                      first_run_id="run-1", at=now + timedelta(hours=1))  # fmt: skip
    assert "in the run's future" in why(late)
    bare = decision.model_copy(update={"signature": None, "key": None, "signed_at": None})
    assert why(bare).startswith("decision refused: it is unsigned")
    check_signature(ApproverKeys(unsigned=True), bare, call, binding, now=now)
    assert why(keys=ApproverKeys()).startswith("decision refused: signed by a key this run")


def test_key_files_and_allowed_signers_are_checked_as_they_load(tmp_path: Path) -> None:
    key = tmp_path / "approver.key"
    made = Signer.generate(key, name="ada")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert Signer.from_file(key).public_key == made.public_key
    with pytest.raises(FileExistsError):
        Signer.generate(key)
    key.chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others: chmod 600"):
        Signer.from_file(key)
    allowed = ApproverKeys.parse(
        f"# approvers\nada,bob {made.public_key} laptop\n* {made.public_key}"
    )
    assert allowed.names_for(made.public_key) == ["ada", "bob", "*"]
    with pytest.raises(ConfigurationError, match="line 1: not a valid ssh-ed25519"):
        ApproverKeys.parse("ada ssh-ed25519 AAAAnot-a-key")
    with pytest.raises(ConfigurationError, match="line 1: expected NAMES KEY-TYPE KEY"):
        ApproverKeys.parse("ada")


def test_the_cli_signs_with_a_key_file_it_is_given_by_path_and_makes_one(tmp_path: Path) -> None:
    tether = [str(Path(binary("temporal")).parent / "tether")]
    env = {**os.environ, "TETHER_IDENTITY": "ada@shop", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    key, allowed = tmp_path / "keys" / "ada.key", tmp_path / "allowed"
    made = subprocess.run(
        [*tether, "keygen", str(key), "--allowed", str(allowed)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    again = subprocess.run(
        [*tether, "keygen", str(key)], env=env, capture_output=True, text=True, timeout=60
    )
    key.chmod(0o640)
    exposed = subprocess.run(
        [*tether, "approve", "ticket-7", "--call", "call_0"],
        env={**env, "TETHER_SIGNING_KEY": str(key)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("ada@shop ssh-ed25519 ") and allowed.read_text() == made.stdout
    assert ApproverKeys.parse(allowed.read_text()).names_for(made.stdout.split(" ", 1)[1].strip())
    assert (again.returncode, again.stderr.count("\n")) == (2, 1)
    assert "a key is never overwritten" in again.stderr
    # Refused before anything is sent: the key file is the user's mistake to fix.
    assert (exposed.returncode, exposed.stderr.count("\n")) == (2, 1)
    assert "readable by others: chmod 600" in exposed.stderr
