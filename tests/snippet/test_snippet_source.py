"""The snippet stays small and old-browser safe: it parses as ES5 (no let/const, arrow functions, classes or
template strings), before and after minifying, and stays under 5 KB gzipped."""

import gzip

from calmjs.parse import es5
from calmjs.parse.exceptions import ECMASyntaxError

from leadline.snippet import snippet

SOURCE_NAME = "t.js"


def _source() -> str:
    from importlib.resources import files

    return files("leadline.snippet").joinpath(SOURCE_NAME).read_text(encoding="utf-8")


def test_the_source_and_the_served_script_are_es5():
    es5(_source())
    es5(snippet().body.decode())


def test_an_es2015_construct_would_be_caught():
    try:
        es5("const f = (x) => `${x}`;")
    except ECMASyntaxError:
        return
    raise AssertionError("the ES5 parser accepted ES2015 syntax")


def test_the_served_script_is_under_5_kb_gzipped():
    asset = snippet()
    assert len(asset.gzipped) < 5 * 1024
    assert gzip.decompress(asset.gzipped) == asset.body
    assert "leadline.consent(true)" not in asset.body.decode()  # comments are stripped from what is served
