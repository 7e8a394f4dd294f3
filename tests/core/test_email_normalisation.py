"""The cached fast path of `normalise_email` must agree with email-validator on every input."""

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from leadline.core.contacts import InvalidContact, normalise_email

LOCAL_CHARS = "abcXYZ019.!#$%&'*+/=?^_`{|}~-\"() ,:;<>@[\\]éß"
DOMAIN_CHARS = "abcxyz019.-_éß"


def _reference(raw: str) -> str | None:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _ours(raw: str) -> str | None:
    try:
        return normalise_email(raw)
    except InvalidContact:
        return None


addresses = st.one_of(
    st.emails(),
    st.builds(lambda local, domain, tld: f"{local}@{domain}.{tld}",
              st.text(LOCAL_CHARS, min_size=0, max_size=70), st.text(DOMAIN_CHARS, min_size=0, max_size=20),
              st.sampled_from(["com", "fr", "test", "local", "c", "xn--p1ai", "onion", "123", "co.uk"])),
)


@settings(max_examples=1500, deadline=None)
@given(addresses)
def test_fast_path_agrees_with_email_validator(raw):
    assert _ours(raw) == _reference(raw)


def test_known_edge_cases_agree():
    for raw in ["a@b.test", "a..b@c.com", ".a@c.com", "a.@c.com", "a@-b.com", "x" * 65 + "@a.com",
                "a@" + "b" * 64 + ".com", "Ünïcode@exämple.com", "a+tag@Sub.Example.CO.UK", " a@b.fr "]:
        assert _ours(raw) == _reference(raw), raw
