"""The daily run: queues by condition and bucket, assignment by rules and round robin,
strategy steps fired once per installment (the most advanced when several are reached),
notifications made for each channel, and a second run of the same day changing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import transaction
from domain.collections import collectors, queues, strategies
from domain.collections.work_models import (
    Assignment,
    Notification,
    QueueItem,
    StrategyAction,
)
from domain.shared.errors import Conflict, Forbidden, ValidationFailed
from domain.shared.event_schemas import global_id
from domain.shared.money import Money
from domain.shared.time import clock_at, utcnow
from tests.domain.collections_work.conftest import (
    all_rows,
    pay,
    refresh,
    rows,
    run_day,
    today,
    topics,
)


async def test_the_run_builds_queues_fires_steps_and_assigns_in_turn(make_credit, team):
    late = await make_credit(disbursed_days_ago=70)  # first installment 40 days past due
    soon = await make_credit(disbursed_days_ago=28)  # first installment due in 2 days
    quiet = await make_credit(disbursed_days_ago=10)

    totals = await run_day()

    assert totals.examined == 3 and totals.opened == 2
    items = {i.credit_id: i for i in await all_rows(QueueItem)}
    assert set(items) == {late.id, soon.id}
    past_due = items[late.id]
    assert (past_due.kind, past_due.bucket, past_due.days_past_due) == ("PAST_DUE", "31-60", 40)
    installments = await rows(late.id)
    assert past_due.due_date == installments[0].due_date
    assert past_due.amount_due > installments[0].amount + installments[1].amount  # late interest
    due_soon = items[soon.id]
    assert (due_soon.kind, due_soon.bucket, due_soon.days_past_due) == ("DUE_SOON", "CURRENT", 0)
    assert due_soon.amount_due == (await rows(soon.id))[0].amount
    # round robin over the active collectors, in credit order
    assert [past_due.collector_id, due_soon.collector_id] == [team["agent"], team["supervisor"]]
    assignments = await all_rows(Assignment)
    assert {(a.credit_id, a.collector_id, a.how) for a in assignments} == {
        (late.id, team["agent"], "DEFAULT"),
        (soon.id, team["supervisor"], "DEFAULT"),
    }
    # 40 days late, nothing ever sent: the letter (30) fires, the call (5) is skipped
    actions = {(a.credit_id, a.step_code): a for a in await all_rows(StrategyAction)}
    assert {k: a.status for k, a in actions.items()} == {
        (late.id, "LLAMADA"): "SKIPPED",
        (late.id, "CARTA_FORMAL"): "FIRED",
        (soon.id, "RECORDATORIO"): "FIRED",
    }
    assert past_due.next_action == "LETTER"
    letter = actions[(late.id, "CARTA_FORMAL")]
    assert (letter.installment_number, letter.days_past_due) == (1, 40)
    notes = await all_rows(Notification)
    assert sorted((n.action_id == letter.id, n.channel, n.status) for n in notes) == [
        (False, "EMAIL", "PENDING"),
        (False, "WEBHOOK", "PENDING"),
        (True, "EMAIL", "PENDING"),
        (True, "WEBHOOK", "PENDING"),
    ]
    assert {n.message_key for n in notes} == {f"{n.action_id}:{n.channel}" for n in notes}
    fired = await topics("collections.step_triggered")
    assert sorted(e.payload["stepCode"] for e in fired) == ["CARTA_FORMAL", "RECORDATORIO"]
    letter_event = next(e for e in fired if e.payload["stepCode"] == "CARTA_FORMAL")
    assert letter_event.payload["creditId"] == global_id("Credit", late.id)
    assert letter_event.payload["amountDue"] == {
        "amount": str(letter.amount_due),
        "currency": "CLP",
    }
    assert quiet.id not in {a.credit_id for a in actions.values()}

    again = await run_day()

    assert (again.opened, again.updated, again.resolved, again.steps_fired) == (0, 0, 0, 0)
    assert len(await all_rows(StrategyAction)) == 3
    assert len(await all_rows(Notification)) == 4
    assert len(await topics("collections.step_triggered")) == 2


async def test_days_later_the_next_step_fires_and_a_payment_cures_the_account(make_credit, team):
    credit = await make_credit(disbursed_days_ago=34)  # first installment due 3 days ago
    await run_day()
    assert [a.step_code for a in await all_rows(StrategyAction)] == []  # 3 days: no step yet
    later = utcnow() + timedelta(days=2)
    with clock_at(later):
        await run_day()
        assert [(a.step_code, a.status) for a in await all_rows(StrategyAction)] == [
            ("LLAMADA", "FIRED")
        ]
        item = (await all_rows(QueueItem, credit_id=credit.id))[0]
        assert (item.days_past_due, item.next_action) == (5, "CALL")
        owed = item.amount_due
        await pay(credit.id, owed)
        await refresh(credit.id)
        item = (await all_rows(QueueItem, credit_id=credit.id))[0]
        assert (item.status, item.resolution, item.resolved_on) == ("RESOLVED", "CURED", today())
        ended = await all_rows(Assignment, credit_id=credit.id)
        assert all(a.ended_at is not None for a in ended)


async def test_rules_route_buckets_to_their_pool_and_keep_the_collector(
    make_credit, team, supervisor
):
    async with transaction() as session:
        view = await collectors.set_rules(
            session,
            principal=supervisor,
            lender_id=None,
            rules=[
                collectors.RuleInput(
                    name="Mora temprana",
                    queues=["PAST_DUE"],
                    buckets=["1-30"],
                    collector_ids=[team["supervisor"]],
                ),
                collectors.RuleInput(
                    name="Montos altos",
                    queues=["PAST_DUE"],
                    min_amount=Money(2_000_000, "CLP"),
                    collector_ids=[team["agent"], team["supervisor"]],
                ),
            ],
            expected_version=0,
        )
    assert view.version == 1
    early = [await make_credit(disbursed_days_ago=40) for _ in range(2)]  # 10 days late
    late = await make_credit(disbursed_days_ago=70, amount="90000000")  # big, 40 days late
    await run_day()
    items = {i.credit_id: i for i in await all_rows(QueueItem)}
    assert [items[c.id].collector_id for c in early] == [team["supervisor"]] * 2
    assert items[late.id].collector_id == team["agent"]  # first of its pool
    assigned = {a.credit_id: (a.how, a.rule_name) for a in await all_rows(Assignment)}
    assert assigned[early[0].id] == ("RULE", "Mora temprana")
    assert assigned[late.id] == ("RULE", "Montos altos")
    # a stale version is refused, nothing written
    with pytest.raises(Conflict):
        async with transaction() as session:
            await collectors.set_rules(
                session, principal=supervisor, lender_id=None, rules=[], expected_version=0
            )
    # the next day the same collectors keep their accounts
    with clock_at(utcnow() + timedelta(days=1)):
        await run_day()
    assert {a.credit_id for a in await all_rows(Assignment)} == {c.id for c in [*early, late]}
    assert len(await all_rows(Assignment)) == 3


async def test_a_switched_off_collector_hands_over_and_a_manual_choice_stands(
    make_credit, team, supervisor
):
    credits = [await make_credit(disbursed_days_ago=40) for _ in range(2)]
    await run_day()
    items = {i.credit_id: i for i in await all_rows(QueueItem)}
    first = items[credits[0].id]
    assert first.collector_id == team["agent"]
    async with transaction() as session:
        await queues.reassign_item(
            session,
            principal=supervisor,
            item_id=items[credits[1].id].id,
            collector_id=team["agent"],
            expected_version=items[credits[1].id].version,
        )
    async with transaction() as session:
        views = await collectors.list_collectors(session, principal=supervisor, lender_id=None)
        agent_view = next(v for v in views if v.id == team["agent"])
        await collectors.set_collector_active(
            session,
            principal=supervisor,
            collector_id=team["agent"],
            active=False,
            expected_version=agent_view.version,
        )
    await run_day()
    items = {i.credit_id: i for i in await all_rows(QueueItem)}
    assert {i.collector_id for i in items.values()} == {team["supervisor"]}
    history = sorted(
        (a.credit_id == credits[0].id, a.how, a.ended_at is None)
        for a in await all_rows(Assignment)
    )
    assert (True, "DEFAULT", False) in history and (True, "DEFAULT", True) in history
    assert (False, "MANUAL", False) in history


async def test_strategies_are_data_validated_and_versioned(supervisor, agent, outsider):
    async with transaction() as session:
        default = await strategies.current_strategy(session, principal=agent, lender_id=None)
    assert (default.version, [s.day_offset for s in default.steps]) == (0, [-3, 5, 30])
    bad = [
        strategies.StepInput("recordatorio!", -3, "REMINDER", ["EMAIL"]),
        strategies.StepInput("AVISO", -2, "NOTICE", ["EMAIL"]),
        strategies.StepInput("CARTA", 31, "LETTER", []),
        strategies.StepInput("SMS", 2, "CALL", ["SMS"]),
        strategies.StepInput("LEJOS", 900, "LETTER", ["EMAIL"]),
    ]
    with pytest.raises(ValidationFailed) as refused:
        async with transaction() as session:
            await strategies.set_strategy(
                session,
                principal=supervisor,
                lender_id=None,
                name="Mala",
                steps=bad,
                expected_version=0,
            )
    assert [p.field for p in refused.value.problems] == [
        "steps[0].code",
        "steps[1].dayOffset",
        "steps[2].channels",
        "steps[3].channels",
        "steps[4].dayOffset",
    ]
    with pytest.raises(Forbidden):
        async with transaction() as session:
            await strategies.set_strategy(
                session, principal=agent, lender_id=None, name="x", steps=[], expected_version=0
            )
    good = [
        strategies.StepInput("AVISO_MORA", 1, "NOTICE", ["EMAIL"]),
        strategies.StepInput("RECORDATORIO_5D", -5, "REMINDER", ["EMAIL", "WEBHOOK"]),
    ]
    async with transaction() as session:
        view = await strategies.set_strategy(
            session,
            principal=supervisor,
            lender_id=None,
            name=" Temprana ",
            steps=good,
            promise_grace_days=2,
            expected_version=0,
        )
    assert (view.version, view.name, view.horizon, view.promise_grace_days) == (1, "Temprana", 5, 2)
    assert [s.code for s in view.steps] == ["RECORDATORIO_5D", "AVISO_MORA"]
    async with transaction() as session:
        other = await strategies.current_strategy(session, principal=outsider, lender_id=None)
    assert other.version == 0  # another lender's strategy is its own
    assert len(await topics("collections.strategy_changed")) == 1
