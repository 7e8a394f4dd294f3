"""Templates are sandboxed (no way to Python internals), HTML is escaped, links are rewritten; signed tokens
cannot be forged or reused for another purpose."""

from __future__ import annotations

import pytest

from leadline.nurture import tokens
from leadline.nurture.rendering import TemplateProblem, check_templates, render

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__class__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lead.custom.update.__self__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_a_template_cannot_reach_python_internals(source: str) -> None:
    context = {"lead": {"first_name": "Jo", "custom": {}}}
    try:
        rendered = render({"subject": "s", "text": source}, context)
    except TemplateProblem as error:
        assert "SecurityError" in str(error) or "Undefined" in str(error)
    else:  # the sandbox answers undefined for unsafe attributes: nothing of the process leaks
        assert "class" not in rendered.text and "module" not in rendered.text and "function" not in rendered.text


def test_html_is_escaped_and_links_are_rewritten_and_a_pixel_added() -> None:
    out = render({"subject": "Hi {{ lead.first_name }}", "text": "Hi {{ lead.first_name }}",
                  "html": "<body><p>{{ lead.first_name }}</p><a href='https://a.test/x?q=1&amp;r=2'>x</a></body>"},
                 {"lead": {"first_name": "<script>alert(1)</script>"}},
                 link=lambda url: "https://t.test/c?u=" + url, pixel_url="https://t.test/o.gif")
    assert "<script>" not in (out.html or "") and "&lt;script&gt;" in (out.html or "")
    assert "href='https://t.test/c?u=https://a.test/x?q=1&amp;r=2'" in (out.html or "")
    assert (out.html or "").endswith('<img src="https://t.test/o.gif" width="1" height="1" alt="" '
                                     'style="display:none"></body>')
    assert out.text == "Hi <script>alert(1)</script>"  # the text part is plain text


def test_template_syntax_errors_are_reported_per_part() -> None:
    assert check_templates({"subject": "{{ oops", "text": "fine", "html": None}) == [
        ("subject", "template error: unexpected end of template, expected 'end of print statement'.")]


def test_tokens_verify_only_with_the_same_key_and_purpose() -> None:
    token = tokens.sign(b"k1", "click", {"s": 1, "u": "https://a.test"})
    assert tokens.verify(b"k1", "click", token) == {"s": 1, "u": "https://a.test"}
    for key, purpose, text in [(b"k2", "click", token), (b"k1", "open", token),
                               (b"k1", "click", token[:-2] + "AA"), (b"k1", "click", "x" + token),
                               (b"k1", "click", "nodot"), (b"k1", "click", "a.b.c")]:
        with pytest.raises(tokens.BadToken):
            tokens.verify(key, purpose, text)
