"""A signal fpexp held back (while putting a caller's state back, or after a stopped call) is
handed to the caller's handler at once, in the main thread: not through ``raise_signal``, whose
Python handler runs at a later bytecode, wherever the main thread is by then."""

from __future__ import annotations

import signal

import pytest

from fpexp import api, api_state
from fpexp.interrupts import deliver_now


@pytest.fixture
def late_raise_signal(monkeypatch):
    """``raise_signal`` whose Python handler would run only later: it does nothing now. Ctrl-C
    has Python's own handler meanwhile (whatever the suite was started with)."""
    raised: list[int] = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(signal, "raise_signal", raised.append)
    yield raised
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_held_during_the_restore_is_raised_before_the_call_returns(late_raise_signal):
    def ctrl_c_meanwhile() -> None:  # the handler in place while restoring is fpexp's holder
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    with pytest.raises(KeyboardInterrupt):
        api_state._restore([ctrl_c_meanwhile])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert late_raise_signal == []


def test_a_stopped_calls_sigterm_goes_to_the_callers_handler_at_once(late_raise_signal):
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt):
            api.interrupted("SIGTERM")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM] and late_raise_signal == []


def test_delivery_follows_the_handler_in_place(late_raise_signal):
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        deliver_now(signal.SIGTERM)  # ignored: nothing happens
        assert late_raise_signal == []
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        deliver_now(signal.SIGTERM)  # the default action is the kernel's: through raise_signal
        assert late_raise_signal == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
    with pytest.raises(KeyboardInterrupt):
        deliver_now(signal.SIGINT)  # Python's default_int_handler, called here
