"""The session state machine: the table, every illegal pair, and random event sequences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.states import TRANSITIONS, Action, Event, IllegalTransition, State, step


def test_the_seed_transitions() -> None:
    assert step(State.WAITING, Event.AGENT_ASSIGNED).after is State.ACTIVE
    assert Action.NOTIFY_BOTH in step(State.WAITING, Event.AGENT_ASSIGNED).actions
    assert step(State.ACTIVE, Event.SILENCE_TIMEOUT).actions == (Action.REMIND_CUSTOMER,)
    assert step(State.WARNING, Event.TIMEOUT_EXCEEDED).after is State.CLOSED
    assert step(State.WARNING, Event.CUSTOMER_SPOKE).after is State.ACTIVE
    for who in (Event.USER_END, Event.AGENT_END):
        t = step(State.ACTIVE, who)
        assert t.after is State.CLOSED and Action.SAVE_SUMMARY in t.actions and Action.RESUME_BOT in t.actions
    assert step(State.ACTIVE, Event.TRANSFER).after is State.WAITING
    assert step(State.WAITING, Event.QUEUE_TIMEOUT).actions[0] is Action.LEAVE_MESSAGE


@pytest.mark.parametrize(("state", "event"), [(s, e) for s in State for e in Event if (s, e) not in TRANSITIONS])
def test_every_pair_not_in_the_table_is_refused(state: State, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        step(state, event)


def test_closed_is_final_and_every_open_state_can_close() -> None:
    assert not [e for (s, e) in TRANSITIONS if s is State.CLOSED]
    for s in (State.WAITING, State.ACTIVE, State.WARNING):
        assert any(after is State.CLOSED for (src, _), (after, _) in TRANSITIONS.items() if src is s)


@given(st.lists(st.sampled_from(list(Event)), max_size=40))
def test_random_event_sequences_never_reach_an_illegal_state(events: list[Event]) -> None:
    state, agent = State.WAITING, None
    for e in events:
        try:
            t = step(state, e)
        except IllegalTransition:
            continue  # refused: nothing changed
        state = t.after
        agent = "someone" if e is Event.AGENT_ASSIGNED else None if t.after is State.WAITING else agent
        # an agent exactly when a person handles the chat; a resumed bot only from a closed session
        assert (agent is not None) == (state in (State.ACTIVE, State.WARNING)) or state is State.CLOSED
        assert (Action.RESUME_BOT in t.actions) == (state is State.CLOSED)
