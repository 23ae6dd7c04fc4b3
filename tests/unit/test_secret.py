from __future__ import annotations

import copy
import operator
import pickle

import pytest

from kei_agent import Secret

CANARY = "canary-7f3c9e1d-secret"


@pytest.mark.parametrize(
    ("render", "expected"),
    [
        (repr, "Secret('********')"),
        (str, "********"),
        (lambda s: f"{s}", "********"),
        (lambda s: f"[{s:>10}]", "[  ********]"),
        (lambda s: "%s" % s, "********"),  # noqa: UP031
        (lambda s: "{!r}".format(s), "Secret('********')"),  # noqa: UP032
        (lambda s: repr([s]), "[Secret('********')]"),
        (lambda s: repr({"token": s}), "{'token': Secret('********')}"),
    ],
)
def test_renderings_are_masked(render, expected):
    rendered = render(Secret(CANARY))
    assert rendered == expected
    assert CANARY not in rendered


def test_reveal_returns_the_value():
    assert Secret(CANARY).reveal() == CANARY


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (Secret("a"), Secret("a"), True),
        (Secret("a"), Secret("b"), False),
        (Secret("a"), Secret("aa"), False),
        (Secret(""), Secret(""), True),
        (Secret("ü"), Secret("ü"), True),
    ],
)
def test_equality_between_secrets(left, right, equal):
    assert (left == right) is equal
    assert (left != right) is not equal


def test_a_secret_never_equals_a_plain_string():
    assert Secret("a") != "a"
    assert operator.ne("a", Secret("a"))  # str.__eq__ first, then the reflected Secret.__eq__


def test_hashable_and_consistent_with_equality():
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert hash(Secret("a")) == hash(Secret("a"))


@pytest.mark.parametrize(("value", "truthy"), [("x", True), ("", False)])
def test_truthiness(value, truthy):
    assert bool(Secret(value)) is truthy


def test_coerce():
    existing = Secret("x")
    assert Secret.coerce(None) is None
    assert Secret.coerce(existing) is existing
    coerced = Secret.coerce("plain")
    assert isinstance(coerced, Secret)
    assert coerced.reveal() == "plain"


@pytest.mark.parametrize("value", [12345, b"bytes", 1.5, ["x"]])
def test_non_strings_are_rejected_without_echoing_the_value(value):
    with pytest.raises(TypeError, match="takes a str") as info:
        Secret(value)
    assert repr(value) not in str(info.value)
    with pytest.raises(TypeError):
        Secret.coerce(value)


def test_immutable():
    secret = Secret("x")
    with pytest.raises(AttributeError):
        secret._value = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del secret._value
    with pytest.raises(AttributeError):
        secret.other = 1  # type: ignore[attr-defined]
    assert secret.reveal() == "x"


def test_pickle_and_copies_keep_the_value_and_the_mask():
    secret = Secret(CANARY)
    for clone in (pickle.loads(pickle.dumps(secret)), copy.copy(secret), copy.deepcopy(secret)):
        assert isinstance(clone, Secret)
        assert clone.reveal() == CANARY
        assert clone == secret
        assert CANARY not in repr(clone)
