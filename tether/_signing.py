"""Signed decisions: a decision on a call that waits for a person counts only if a key
the run trusts signed it.

Temporal authorizes who may send an update, never what it says: a decision's `approver`
is whatever its sender wrote. So a decision carries an Ed25519 signature over what it
decides and where (namespace, workflow id, first run id, turn, call id, the digest of
the arguments shown, approve or reject, edited arguments, reason, approver and the time
it was signed), and the run's `decide` validator checks it against the public keys its
agent trusts (`ApproverKeys`, recorded with the agent's spec, so a run keeps the keys it
started with) before anything reaches history. A signature made for one run, call or
set of arguments verifies nowhere else. An answer to a question the agent asked a person
(`ask_person`) is signed the same way, over the question and the answer given
(`Signer.sign_answer`), and checked by the run's `answer` validator.

Keys are OpenSSH's: `ssh-ed25519 AAAA...` public keys, private keys in OpenSSH or PKCS#8
PEM files (`ssh-keygen -t ed25519 -N '' -f approver` makes one). A person holds a key
and signs for themselves; an approval service holds one key, trusted for any name
(`*`), and signs for the person it authenticated.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tether._run_io import ApprovalDecision, PendingApproval, PendingQuestion, QuestionAnswer
from tether._settings import ConfigurationError
from tether._trust import ANY_NAME, ApproverKeys, fingerprint, parse_public_key, public_key_line

SIGNING_KEY_VARIABLE = "TETHER_SIGNING_KEY"
# Domain separation: a signature over a decision (or an answer) is never one over
# anything else.
MESSAGE_PREFIX = b"tether-decision/v1\n"
ANSWER_PREFIX = b"tether-answer/v1\n"
# How far a signer's clock may be ahead of the run's: a decision signed later than the
# run's now plus this is refused. (No lower bound: the run, turn and call id already make
# a signature good once, and a test server's clock may run days ahead.)
CLOCK_SKEW = timedelta(minutes=5)
MAX_KEY_FILE_BYTES = 16 * 1024


class Signer:
    """Signs decisions with an Ed25519 private key, for `AgentRun.approve`/`reject`
    (and `tether approve`, with the key file TETHER_SIGNING_KEY names).

    Args:
        key: The private key.
        name: The approver name it signs as when a call gives none (a person's key);
            an approval service leaves it unset and names the person on each call.
    """

    def __init__(self, key: Ed25519PrivateKey, *, name: str | None = None) -> None:
        self._key = key
        self.name = name
        self.public_key = public_key_line(key.public_key())

    @classmethod
    def from_file(cls, path: str | Path, *, name: str | None = None) -> Signer:
        """The key in an OpenSSH or PKCS#8 PEM file (unencrypted, readable by its owner
        only, as ssh requires)."""
        where = Path(path)
        try:
            fd = os.open(where, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                mode = os.fstat(f.fileno()).st_mode
                data = f.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as e:
            raise ConfigurationError(f"cannot read signing key {where}: {e.strerror}") from None
        if not stat.S_ISREG(mode) or len(data) > MAX_KEY_FILE_BYTES:
            raise ConfigurationError(f"signing key {where} is not a key file")
        if mode & 0o077:
            raise ConfigurationError(
                f"signing key {where} is readable by others: chmod 600 {where}"
            )
        return cls(_private_key(data, where), name=name)

    @classmethod
    def from_env(cls, *, name: str | None = None) -> Signer | None:
        """The key file TETHER_SIGNING_KEY names (a path: a key never goes in argv or
        the environment itself); None when it is unset."""
        path = os.environ.get(SIGNING_KEY_VARIABLE, "").strip()
        return cls.from_file(path, name=name) if path else None

    @classmethod
    def generate(cls, path: str | Path | None = None, *, name: str | None = None) -> Signer:
        """A new key; with `path`, also written there (OpenSSH format, mode 0600, which
        `ssh-keygen -y -f` reads). `FileExistsError` if a file is there: a key is never
        replaced."""
        signer = cls(Ed25519PrivateKey.generate(), name=name)
        if path is None:
            return signer
        where = Path(path)
        data = signer._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        partial = where.with_name(f".{where.name}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            os.link(partial, where)  # whole, and never over a key another process wrote
        finally:
            partial.unlink()
        return signer

    def sign(
        self,
        decision: ApprovalDecision,
        *,
        call: PendingApproval,
        namespace: str,
        workflow_id: str,
        first_run_id: str,
        approver: str | None = None,
        at: datetime | None = None,
    ) -> ApprovalDecision:
        """`decision`, signed for `call` of one run (`AgentRun.approve` fills these in).

        Args:
            decision: What is decided: approve or reject, and any reason or edited
                arguments (its call id and digest are taken from `call`).
            call: The waiting call, as the person was shown it.
            namespace: The run's namespace.
            workflow_id: The run's workflow id.
            first_run_id: The first run id of that workflow id (a chat's continued runs
                share it).
            approver: Who decides (default the decision's `approver`, else `name`).
            at: When it was decided (default now).

        Returns:
            The decision with `approver`, `signed_at`, `key` and `signature` set.
        """
        who = approver or decision.approver or self.name
        if not who:
            raise ValueError("say who decides: pass approver=, or give the Signer a name")
        unsigned = decision.model_copy(
            update={
                "call_id": call.call_id,
                "digest": call.digest,
                "approver": who,
                "signed_at": (at or datetime.now(UTC)).astimezone(UTC),
                "key": self.public_key,
                "signature": None,
            }
        )
        binding = Binding(namespace, workflow_id, first_run_id)
        signature = self._key.sign(message(unsigned, call, binding))
        return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})

    def sign_answer(
        self,
        answer: QuestionAnswer,
        *,
        question: PendingQuestion,
        namespace: str,
        workflow_id: str,
        first_run_id: str,
        answerer: str | None = None,
        at: datetime | None = None,
    ) -> QuestionAnswer:
        """`answer`, signed for `question` of one run (`AgentRun.answer` fills these in).

        Args:
            answer: The answer (its call id is taken from `question`).
            question: The pending question, as the person was shown it.
            namespace: The run's namespace.
            workflow_id: The run's workflow id.
            first_run_id: The first run id of that workflow id.
            answerer: Who answers (default the answer's `answerer`, else `name`).
            at: When it was answered (default now).

        Returns:
            The answer with `answerer`, `signed_at`, `key` and `signature` set.
        """
        who = answerer or answer.answerer or self.name
        if not who:
            raise ValueError("say who answers: pass answerer=, or give the Signer a name")
        unsigned = answer.model_copy(
            update={
                "call_id": question.call_id,
                "answerer": who,
                "signed_at": (at or datetime.now(UTC)).astimezone(UTC),
                "key": self.public_key,
                "signature": None,
            }
        )
        binding = Binding(namespace, workflow_id, first_run_id)
        signature = self._key.sign(answer_message(unsigned, question, binding))
        return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})


def _private_key(data: bytes, where: Path) -> Ed25519PrivateKey:
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH"):
            key: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        reason = "it is encrypted" if "password" in str(e).lower() else "not a key Tether reads"
        raise ConfigurationError(f"signing key {where}: {reason}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"signing key {where} is not an Ed25519 key")
    return key


class Binding:
    """Where a decision applies: one namespace, workflow id and first run id (a chat's
    continued runs share it; the turn in the message tells their calls apart)."""

    def __init__(self, namespace: str, workflow_id: str, first_run_id: str) -> None:
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.first_run_id = first_run_id


def message(decision: ApprovalDecision, call: PendingApproval, binding: Binding) -> bytes:
    """The bytes a decision's signature covers."""
    fields = {
        "namespace": binding.namespace,
        "workflow_id": binding.workflow_id,
        "first_run_id": binding.first_run_id,
        "turn": call.turn,
        "call_id": call.call_id,
        "digest": call.digest,
        "approve": decision.approve,
        "arguments": decision.arguments,
        "reason": decision.reason,
        "approver": decision.approver,
        "signed_at": _when(decision.signed_at),
    }
    return MESSAGE_PREFIX + _canonical(fields)


def answer_message(answer: QuestionAnswer, question: PendingQuestion, binding: Binding) -> bytes:
    """The bytes an answer's signature covers: the question asked as well as the answer,
    so an answer signed for one question verifies for no other."""
    fields = {
        "namespace": binding.namespace,
        "workflow_id": binding.workflow_id,
        "first_run_id": binding.first_run_id,
        "turn": question.turn,
        "call_id": question.call_id,
        "question": question.question,
        "value": answer.value,
        "answerer": answer.answerer,
        "signed_at": _when(answer.signed_at),
    }
    return ANSWER_PREFIX + _canonical(fields)


def _when(signed_at: datetime | None) -> str | None:
    return signed_at.astimezone(UTC).isoformat() if signed_at else None


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def check_signature(
    trust: ApproverKeys,
    decision: ApprovalDecision,
    call: PendingApproval,
    binding: Binding,
    *,
    now: datetime,
) -> None:
    """Raise ValueError (one line) unless `decision` is proven under `trust`: signed by
    a trusted key allowed to sign for its approver, for this run and call, in time.
    Pure: the update's validator runs it."""
    proof = Proof(decision.approver, decision.key, decision.signature, decision.signed_at)
    _check_proof(trust, proof, lambda: message(decision, call, binding), now=now, what="decision")


def check_answer_signature(
    trust: ApproverKeys,
    answer: QuestionAnswer,
    question: PendingQuestion,
    binding: Binding,
    *,
    now: datetime,
) -> None:
    """As `check_signature`, for an answer to `question`."""
    proof = Proof(answer.answerer, answer.key, answer.signature, answer.signed_at)
    signed = lambda: answer_message(answer, question, binding)  # noqa: E731
    _check_proof(trust, proof, signed, now=now, what="answer")


class Proof(NamedTuple):
    """Who a decision or an answer says made it, and the signature that proves it."""

    who: str | None
    key: str | None
    signature: str | None
    signed_at: datetime | None


def _check_proof(
    trust: ApproverKeys, proof: Proof, signed: Callable[[], bytes], *, now: datetime, what: str
) -> None:
    if proof.signature is None or proof.key is None or proof.signed_at is None:
        if trust.unsigned:
            return
        raise ValueError(
            f"{what} refused: it is unsigned, and this run accepts only {what}s signed "
            f"by a key it trusts (tether approve and tether answer sign with the key file "
            f"{SIGNING_KEY_VARIABLE} names)"
        )
    try:
        key = parse_public_key(proof.key)
        line = public_key_line(key)
    except ValueError:
        raise ValueError(f"{what} refused: its key is not an ssh-ed25519 public key") from None
    names = trust.names_for(line)
    if names is None:
        raise ValueError(
            f"{what} refused: signed by a key this run does not trust ({fingerprint(line)})"
        )
    if ANY_NAME not in names and proof.who not in names:
        raise ValueError(f"{what} refused: key {fingerprint(line)} may not sign for {proof.who!r}")
    try:
        signature = base64.b64decode(proof.signature, validate=True)
        key.verify(signature, signed())
    except (InvalidSignature, ValueError):
        raise ValueError(
            f"{what} refused: its signature does not verify for this run and call "
            "(made for another, or altered)"
        ) from None
    if proof.signed_at > now + CLOCK_SKEW:
        raise ValueError(
            f"{what} refused: signed at {proof.signed_at:%Y-%m-%d %H:%M:%S} UTC, "
            "in the run's future (is the signer's clock right?)"
        )
