import pytest

from leadline.core.spreadsheet import safe_cell


@pytest.mark.parametrize("value", ["=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_become_text(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Jean", "", "a=b", 42, None])
def test_other_values_are_left_alone(value):
    assert safe_cell(value) == value
