"""Where a message and a batch can be, and how those states group into what a person is told.

The journal stores these values; the summary, the plan and the exit code read them through the
groups below, defined once, so "pending" or "spent" means the same everywhere.
"""

from __future__ import annotations

from enum import Enum


class _Value(str, Enum):
    """A state stored in SQLite as its text."""

    def __str__(self) -> str:
        return self.value


class MessageState(_Value):
    PLANNED = "planned"  # rendered, validated, never attempted
    IN_FLIGHT = "in_flight"  # its batch left: no answer yet, or sent and its report not read
    SENT = "sent"  # accepted by MASGSM, no report yet
    PENDING = "pending"  # the report says Bekleyen
    DELIVERED = "delivered"  # Iletilen
    FAILED = "failed"  # Hatali
    UNKNOWN = "unknown"  # the request left, no usable answer came back
    REJECTED = "rejected"  # refused by MASGSM or the network before it could act
    NOT_SENT = "not_sent"  # beyond a partial send (answer 3), by its settled report
    ALREADY_SENT = "already_sent"  # the sent ledger has this (number, text) within send.dedupe
    OPTED_OUT = "opted_out"  # the number is on the opt-out list and the pipeline honours it
    NO_CONSENT = "no_consent"  # a commercial text without the recipient's İYS consent


class BatchState(_Value):
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    PARTIAL = "partial"  # answer 3: the balance ran out part-way
    REJECTED = "rejected"
    UNKNOWN = "unknown"


M = MessageState

# A run may (re)send these: never attempted, refused, or beyond a partial send.
SENDABLE = (M.PLANNED, M.REJECTED, M.NOT_SENT)
# Paid for, or perhaps paid for.
SPENT = (M.SENT, M.PENDING, M.DELIVERED, M.FAILED, M.UNKNOWN, M.IN_FLIGHT)
# Accepted by MASGSM and waiting for a final report.
AWAITING_REPORT = (M.SENT, M.PENDING)

# What a person is told about each recipient the run meant to send to (contract names).
OUTCOMES: dict[str, tuple[MessageState, ...]] = {
    "delivered": (M.DELIVERED,),
    "failed": (M.FAILED,),
    "pending": (M.SENT, M.PENDING),
    "unknown": (M.UNKNOWN, M.IN_FLIGHT),
    "not_sent": (M.PLANNED, M.REJECTED, M.NOT_SENT),
}
# Recipients this run did not send to on purpose, counted beside the outcomes (contract names).
SET_ASIDE: dict[str, tuple[MessageState, ...]] = {
    "already_sent": (M.ALREADY_SENT,),
    "opted_out": (M.OPTED_OUT,),
    "no_consent": (M.NO_CONSENT,),
}

# Batches MASGSM took: their messages are sent, though written in flight until their report
# is read (see pipeline/records.py).
ANSWERED_SENT = (BatchState.SENT, BatchState.PARTIAL)
# The answer of a batch MASGSM refused, or may not have taken, decides its messages' state.
MESSAGE_STATE_OF_BATCH = {
    BatchState.REJECTED: M.REJECTED,
    BatchState.UNKNOWN: M.UNKNOWN,
}
