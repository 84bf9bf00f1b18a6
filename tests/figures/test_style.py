import pytest

from figures.style import algorithm_style, set_algorithm_order

ORDER = ("first", "second", "third", "fourth", "fifth")


@pytest.fixture
def restore_order():
    yield
    set_algorithm_order(())


def test_set_algorithm_order_assigns_slots_in_order(restore_order):
    set_algorithm_order(ORDER)
    slots = [algorithm_style(n) for n in ORDER[:4]]
    set_algorithm_order(["b-new", "a-new", "b-new", ORDER[0]])
    assert [algorithm_style(n) for n in ("b-new", "a-new", ORDER[0])] == slots[:3]
    assert algorithm_style("not-listed") == slots[3]  # the next free slot
    assert algorithm_style("not-listed") == slots[3]


def test_reordering_moves_the_slots(restore_order):
    set_algorithm_order(ORDER)
    default = [algorithm_style(n) for n in ORDER]
    set_algorithm_order(list(reversed(ORDER)))
    assert algorithm_style(ORDER[-1]) == default[0]
    set_algorithm_order(ORDER)
    assert [algorithm_style(n) for n in ORDER] == default


def test_set_algorithm_order_rejects_a_string(restore_order):
    with pytest.raises(ValueError, match="not one string"):
        set_algorithm_order("omd")
    with pytest.raises(ValueError, match="must be strings"):
        set_algorithm_order(["omd", 3])
