"""The canonical state machine."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from domain.cases.states import (
    ACTIVE,
    FINISHED,
    REOPEN_WINDOW,
    RESOLVABLE,
    TRANSITIONS,
    CaseStatus,
    can_transition,
    ensure_transition,
    is_reopen,
    parse_status,
)
from domain.shared.errors import InvalidTransition

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PAIRS = [(a, b) for a in CaseStatus for b in CaseStatus]


def test_every_state_has_a_row_and_no_state_goes_to_itself() -> None:
    assert set(TRANSITIONS) == set(CaseStatus)
    for source, targets in TRANSITIONS.items():
        assert source not in targets


def test_the_main_path() -> None:
    path = [
        CaseStatus.OPEN,
        CaseStatus.IN_PROGRESS,
        CaseStatus.WAITING_CUSTOMER,
        CaseStatus.IN_PROGRESS,
        CaseStatus.WAITING_PARTNER,
        CaseStatus.RESOLVED,
        CaseStatus.CLOSED,
    ]
    for source, target in itertools.pairwise(path):
        ensure_transition(source, target)


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_ensure_transition_agrees_with_the_table(source: CaseStatus, target: CaseStatus) -> None:
    if can_transition(source, target):
        ensure_transition(source, target, resolved_at=NOW - timedelta(days=1), now=NOW)
    else:
        with pytest.raises(InvalidTransition) as caught:
            ensure_transition(source, target, resolved_at=NOW, now=NOW)
        assert caught.value.from_state == source.value
        assert caught.value.to_state == target.value


@pytest.mark.parametrize("source", sorted(FINISHED))
def test_reopen_only_within_the_window(source: CaseStatus) -> None:
    assert is_reopen(source, CaseStatus.IN_PROGRESS)
    ensure_transition(source, CaseStatus.IN_PROGRESS, resolved_at=NOW - REOPEN_WINDOW, now=NOW)
    with pytest.raises(InvalidTransition, match="within 30 days"):
        ensure_transition(
            source,
            CaseStatus.IN_PROGRESS,
            resolved_at=NOW - REOPEN_WINDOW - timedelta(seconds=1),
            now=NOW,
        )
    with pytest.raises(InvalidTransition):
        ensure_transition(source, CaseStatus.IN_PROGRESS)  # no resolution time: refuse
    ensure_transition(
        source,
        CaseStatus.IN_PROGRESS,
        resolved_at=NOW - timedelta(days=60),
        now=NOW,
        reopen_window=timedelta(days=90),
    )


def test_nothing_leaves_a_finished_state_but_closing_and_reopening() -> None:
    for source in FINISHED:
        assert TRANSITIONS[source] <= {CaseStatus.CLOSED, CaseStatus.IN_PROGRESS}
    for source in ACTIVE:
        assert CaseStatus.CLOSED not in TRANSITIONS[source]


def test_resolvable_states_are_the_active_ones() -> None:
    assert RESOLVABLE == ACTIVE


def test_parse_status_names_the_valid_values() -> None:
    assert parse_status("OPEN") is CaseStatus.OPEN
    with pytest.raises(ValueError, match="IN_PROGRESS"):
        parse_status("ABIERTO")
