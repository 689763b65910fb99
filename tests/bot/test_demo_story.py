"""The demo's story: drawn from the seed alone, with the churn and sign-ups of a real business."""

from __future__ import annotations

import dataclasses

import pytest

from bot.sandbox.demo import Kind, load_texts, plan_story


def _fingerprint(count: int, weeks: int, seed: int) -> list[tuple[object, ...]]:
    story = plan_story(count, weeks, seed, load_texts())
    return [
        (*dataclasses.astuple(h.person), h.day, h.kind, h.score, h.reason, h.voluntary, h.text)
        for h in story.happenings
    ]


def test_the_same_seed_plans_the_same_story_and_another_seed_another() -> None:
    assert _fingerprint(300, 4, 11) == _fingerprint(300, 4, 11)
    assert _fingerprint(300, 4, 11) != _fingerprint(300, 4, 12)


@pytest.mark.parametrize(("count", "weeks"), [(20, 2), (200, 4), (1000, 8), (5000, 12)])
def test_every_simulated_week_has_new_customers(count: int, weeks: int) -> None:
    story = plan_story(count, weeks, 7, load_texts())
    assert len(story.people) == count
    for week in range(weeks):
        _, new, _ = story.week_figures(week)
        assert new > 0, f"week {week + 1} of {count} customers has no sign-up"


@pytest.mark.parametrize(("count", "weeks"), [(200, 12), (1000, 8), (5000, 12)])
def test_monthly_churn_of_the_story_is_between_one_and_three_percent(
    count: int, weeks: int
) -> None:
    story = plan_story(count, weeks, 7, load_texts())
    for first in range(weeks - 3):
        at_start, _, _ = story.week_figures(first)
        lost = sum(story.week_figures(week)[2] for week in range(first, first + 4))
        monthly = lost / at_start * 30 / 28
        assert 0.01 <= monthly <= 0.03, f"weeks {first + 1}-{first + 4}: {monthly:.2%}"


def test_customers_stay_until_they_cancel_once_and_answer_nothing_after() -> None:
    story = plan_story(5000, 12, 7, load_texts())
    cancels = [h for h in story.happenings if h.kind == Kind.CANCEL]
    assert len({h.person.external_id for h in cancels}) == len(cancels)
    for happening in story.happenings:
        person = happening.person
        if happening.kind == Kind.TICKET:
            assert person.cancel_day is None or person.cancel_day > happening.day
        if happening.kind != Kind.JOIN and person.joined_day is not None:
            assert happening.day > person.joined_day


def test_the_largest_demo_gives_every_customer_an_own_chat() -> None:
    story = plan_story(5000, 12, 7, load_texts())
    assert len({person.chat_id for person in story.people}) == 5000


def test_failed_payments_are_planned_every_week_and_recoveries_follow_their_failure() -> None:
    story = plan_story(300, 4, 7, load_texts())
    failed = {h.invoice: h for h in story.happenings if h.kind == Kind.PAYMENT_FAILED}
    recovered = [h for h in story.happenings if h.kind == Kind.PAYMENT_RECOVERED]
    assert {h.day // 7 for h in failed.values()} == {0, 1, 2, 3}
    assert recovered, "no failed payment is paid later"
    for happening in recovered:
        failure = failed[happening.invoice]
        assert failure.person is happening.person
        assert failure.day < happening.day < story.days
        assert happening.person.cancel_day is None or happening.person.cancel_day > happening.day


def test_only_price_answers_accept_an_offer_and_the_first_one_always_does() -> None:
    story = plan_story(300, 4, 7, load_texts())
    offered = [
        h
        for h in story.happenings
        if h.kind == Kind.CANCEL and h.reason == "price" and not h.other and h.person.answers
    ]
    accepting = [h for h in story.happenings if h.accepts]
    assert offered
    assert offered[0].accepts
    assert set(map(id, accepting)) <= set(map(id, offered))
