"""The per-IP limit of the public endpoints: a sliding window, counted per address."""

import pytest

from leadline.api.rate_limits import IpRateLimit, parse_rate


def test_rates_are_read_as_people_write_them():
    assert parse_rate("600/minute") == (600, 60)
    assert parse_rate("20 per 10 seconds") == (20, 10)
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_each_address_has_its_own_allowance():
    limit = IpRateLimit("2/minute", "t")
    assert [limit.hit("1.1.1.1", 0.0), limit.hit("1.1.1.1", 1.0), limit.hit("1.1.1.1", 2.0)] == [True, True, False]
    assert limit.hit("2.2.2.2", 2.0)


def test_the_window_slides_instead_of_resetting_at_once():
    limit = IpRateLimit("10/minute", "t")
    assert all(limit.hit("a", 50.0 + i / 10) for i in range(10))
    assert not limit.hit("a", 61.0)  # a new fixed window, but the last minute still holds the 10 hits
    assert limit.hit("a", 100.0)  # two thirds of the previous window have slid out
    assert limit.hit("a", 200.0)
