"""Every message of the web app (templates and Python) has a French translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[2] / "src" / "leadline" / "web"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _messages() -> set[str]:
    found = extract_from_dir(str(WEB), METHODS, keywords={"_": None, "N_": None},
                             options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}})
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_the_french_catalogue_translates_every_message() -> None:
    with (WEB / "locale" / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        french = {m.id: m.string for m in read_po(handle) if m.id}
    messages = _messages()
    assert len(messages) > 200
    missing = sorted(m for m in messages if not french.get(m))
    assert missing == [], "run scripts/i18n after adding the French in scripts/i18n_fr.py"
    for message in messages:
        assert sorted(re.findall(r"%\(\w+\)\w", message)) == sorted(re.findall(r"%\(\w+\)\w", french[message])), message
