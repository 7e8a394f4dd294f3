"""Tracking rules: bots, allowed sites, consent-free paths, batch checks and the form timing token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.tracking import (
    InvalidBatch,
    aggregate_path,
    filled_too_fast,
    host_allowed,
    is_bot,
    normalise_domain,
    origin_host,
    parse_batch,
    timing_token,
)

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize("agent", [CHROME, SAFARI, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 "
                                                   "Firefox/133.0"])
def test_browsers_are_people(agent):
    assert not is_bot(agent)


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36",
    "facebookexternalhit/1.1", "python-requests/2.32", "curl/8.5.0", "Mozilla/5.0 (compatible; GPTBot/1.2)", "",
    None])
def test_crawlers_headless_browsers_and_scripts_are_bots(agent):
    assert is_bot(agent)


def test_domains_are_normalised_and_allow_their_subdomains_only():
    assert normalise_domain("https://WWW.Acme.fr/contact") == "www.acme.fr"
    assert normalise_domain("*.acme.fr") == "acme.fr"
    assert normalise_domain("127.0.0.1:8000") == "127.0.0.1"
    with pytest.raises(ValueError):
        normalise_domain("not a domain")
    allowed = ("acme.fr",)
    assert host_allowed("acme.fr", allowed) and host_allowed("shop.acme.fr", allowed)
    assert not host_allowed("evilacme.fr", allowed) and not host_allowed(None, allowed)
    assert origin_host("https://Shop.Acme.fr:8443") == "shop.acme.fr"
    assert origin_host("null") is None


def test_consent_free_counts_keep_the_path_alone():
    assert aggregate_path("/pricing?email=jane@acme.fr#top") == "/pricing"
    assert aggregate_path("https://acme.fr/a/b?x=1") == "/a/b"
    assert aggregate_path(None) == "/"
    assert len(aggregate_path("/" + "x" * 900)) == 500


def test_a_batch_without_consent_drops_its_visitor():
    batch = parse_batch({"consent": False, "visitor": "v1.abcdefgh", "events": [{"type": "page_view"}]})
    assert batch.visitor is None and not batch.consent


def test_a_batch_names_every_problem():
    with pytest.raises(InvalidBatch) as caught:
        parse_batch({"consent": True, "visitor": "short", "events": [
            {"type": "page_view", "at": "yesterday"}, {"type": "identify"}, {"type": "x", "id": "bad id!"}]})
    assert [p.field for p in caught.value.problems] == ["visitor", "events.0.at", "events.1.email", "events.2.id"]
    with pytest.raises(InvalidBatch):
        parse_batch({"events": [{"type": "page_view"}] * 101})
    with pytest.raises(InvalidBatch):
        parse_batch([1, 2])


def test_the_timing_token_tells_people_from_bots():
    secret, shown = b"k", datetime(2026, 1, 1, 12, tzinfo=UTC)
    token = timing_token(secret, "form1", shown)
    assert not filled_too_fast(secret, "form1", token, shown + timedelta(seconds=5), 3)
    assert filled_too_fast(secret, "form1", token, shown + timedelta(seconds=1), 3)
    assert filled_too_fast(secret, "form1", token, shown + timedelta(days=2), 3)  # replayed much later
    assert filled_too_fast(secret, "form2", token, shown + timedelta(seconds=5), 3)  # another form's token
    assert filled_too_fast(b"other", "form1", token, shown + timedelta(seconds=5), 3)
    assert filled_too_fast(secret, "form1", None, shown, 3)
    assert not filled_too_fast(secret, "form1", None, shown, 0)  # timing off
