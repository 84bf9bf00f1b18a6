"""Seeds and common random numbers: same seed same bits, streams independent of the horizon."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from sim import CRN_STREAMS, CommonRandomNumbers, as_generator, repetition_seeds, spawn_streams

NAMES = ("contexts", "labels", "algorithm")
CRN = CommonRandomNumbers


def test_same_seed_same_bits():
    first = spawn_streams(2024, NAMES)
    again = spawn_streams(2024, NAMES)
    for name in NAMES:
        assert first[name].bit_generator.state == again[name].bit_generator.state
        assert np.array_equal(first[name].random(100), again[name].random(100))


def test_streams_are_distinct_and_seeds_differ():
    streams = spawn_streams(1, NAMES)
    draws = {name: streams[name].random(50) for name in NAMES}
    assert not np.array_equal(draws["contexts"], draws["labels"])
    assert not np.array_equal(draws["labels"], draws["algorithm"])
    assert not np.array_equal(spawn_streams(2, NAMES)["labels"].random(50), draws["labels"])


def test_streams_are_the_spawned_children_in_name_order():
    streams = spawn_streams(7, NAMES)
    children = np.random.SeedSequence(7).spawn(3)
    for name, child in zip(NAMES, children):
        expected = np.random.Generator(np.random.PCG64(child)).random(10)
        assert np.array_equal(streams[name].random(10), expected)
    # a stream's bits follow its position, and appending a name keeps the earlier streams
    swapped = spawn_streams(7, ("labels", "contexts", "algorithm"))
    assert np.array_equal(
        swapped["labels"].random(10), spawn_streams(7, NAMES)["contexts"].random(10)
    )
    extended = spawn_streams(7, (*NAMES, "extra"))
    assert all(
        np.array_equal(extended[n].random(10), spawn_streams(7, NAMES)[n].random(10)) for n in NAMES
    )


def test_a_seed_sequence_argument_is_not_consumed():
    ss = np.random.SeedSequence(5)
    first = spawn_streams(ss, NAMES)["labels"].random(20)
    second = spawn_streams(ss, NAMES)["labels"].random(20)
    assert np.array_equal(first, second)
    assert ss.n_children_spawned == 0
    assert np.array_equal(spawn_streams(5, NAMES)["labels"].random(20), first)


def test_repetition_seeds():
    reps = repetition_seeds(3, 4)
    assert len(reps) == 4
    assert [r.spawn_key for r in reps] == [(0,), (1,), (2,), (3,)]
    again = repetition_seeds(3, 6)
    for r, s in zip(reps, again):
        assert np.array_equal(r.generate_state(4), s.generate_state(4))
    states = {tuple(r.generate_state(4)) for r in again}
    assert len(states) == 6
    # repetition streams are grandchildren: distinct across repetitions
    a = spawn_streams(reps[0], NAMES)["labels"].random(10)
    b = spawn_streams(reps[1], NAMES)["labels"].random(10)
    assert not np.array_equal(a, b)
    assert repetition_seeds(3, 0) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: spawn_streams(0, ["a", "b"]), r"names must be a non-empty tuple"),
        (lambda: spawn_streams(0, ()), r"names must be a non-empty tuple"),
        (lambda: spawn_streams(0, ("a", "a")), r"stream names must be distinct"),
        (lambda: spawn_streams(0, ("a", 3)), r"stream names must be non-empty strings"),
        (lambda: spawn_streams(-1, ("a",)), r"seed must be non-negative"),
        (
            lambda: spawn_streams(np.random.default_rng(0), ("a",)),
            r"seed must be a non-negative int or a numpy SeedSequence",
        ),
        (lambda: repetition_seeds(0, -1), r"n must be a non-negative int"),
        (lambda: CommonRandomNumbers.draw(0, 2.5), r"T must be a non-negative int"),
        (lambda: CRN(np.zeros(3), np.zeros(3), np.zeros((3, 1))), r"arm_u must have shape \(3, 2\)"),
        (lambda: CRN(np.zeros(3), np.zeros(2), np.zeros((3, 2))), r"label_u must have shape \(3,\)"),
        (lambda: CRN(np.ones(3), np.zeros(3), np.zeros((3, 2))), r"context_u must lie in \[0, 1\)"),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_common_random_numbers_same_seed_same_bits():
    first = CommonRandomNumbers.draw(11, 500)
    again = CommonRandomNumbers.draw(11, 500)
    other = CommonRandomNumbers.draw(12, 500)
    for field in ("context_u", "label_u", "arm_u"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
        assert not np.array_equal(getattr(first, field), getattr(other, field))
    assert first.T == 500
    assert first.context_u.shape == (500,) and first.label_u.shape == (500,)
    assert first.arm_u.shape == (500, 2)
    assert all(
        getattr(first, f).dtype == np.float64 and not getattr(first, f).flags.writeable
        for f in ("context_u", "label_u", "arm_u")
    )


@pytest.mark.parametrize("T", [1, 37, 1000])
def test_common_random_numbers_do_not_depend_on_the_horizon(T):
    short = CommonRandomNumbers.draw(3, T)
    long = CommonRandomNumbers.draw(3, 2 * T)
    assert np.array_equal(long.context_u[:T], short.context_u)
    assert np.array_equal(long.label_u[:T], short.label_u)
    assert np.array_equal(long.arm_u[:T], short.arm_u)


def test_common_random_numbers_come_from_their_named_streams():
    crn = CommonRandomNumbers.draw(8, 64)
    streams = spawn_streams(8, CRN_STREAMS)
    assert CRN_STREAMS == ("contexts", "labels", "arms")
    assert np.array_equal(crn.context_u, streams["contexts"].random(64))
    assert np.array_equal(crn.label_u, streams["labels"].random(64))
    assert np.array_equal(crn.arm_u, streams["arms"].random((64, 2)))
    # the three arrays are not shifted copies of one another
    assert not np.intersect1d(crn.context_u, crn.label_u).size
    assert not np.intersect1d(crn.label_u, crn.arm_u.ravel()).size


def test_common_random_numbers_are_uniform():
    crn = CommonRandomNumbers.draw(0, 100_000)
    for u in (crn.context_u, crn.label_u, crn.arm_u.ravel()):
        assert u.min() >= 0.0 and u.max() < 1.0
        counts = np.bincount((u * 10).astype(int), minlength=10)
        expected = u.size / 10
        assert np.sum((counts - expected) ** 2 / expected) < 50.0  # chi-square, 9 df, fixed seed


def test_as_generator():
    from_ss = as_generator(np.random.SeedSequence(4)).random(5)
    assert np.array_equal(as_generator(4).random(5), from_ss)
    rng = np.random.default_rng(0)
    assert as_generator(rng) is rng


def test_pickled_common_random_numbers_are_equal_and_read_only():
    crn = CommonRandomNumbers.draw(4, 30)
    copy = pickle.loads(pickle.dumps(crn))
    for field in ("context_u", "label_u", "arm_u"):
        assert np.array_equal(getattr(copy, field), getattr(crn, field))
        assert not getattr(copy, field).flags.writeable
