"""A small demo website served by Leadline (`/demo/site`): the snippet, a consent banner where refusing is as
easy as accepting, a few pages and an embedded form, for the demo workspace (`leadline demo`)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leadline.api.deps import ReadSession
from leadline.demo.site import demo_form
from leadline.services.tracking import get_tracking
from leadline.storage.tables import Workspace

router = APIRouter(include_in_schema=False)
DEMO_WORKSPACE = "demo"
PAGES = {
    "": ("Acme Analytics", "<p>Dashboards your whole team understands. Browse the pages: with your consent, "
                           "each visit is recorded and shows up on your lead once you fill in the form.</p>"),
    "pricing": ("Pricing", "<p>Starter 29 €/month · Team 99 €/month · Enterprise: ask us.</p>"),
    "contact": ("Contact us", "<p>Tell us about your team and we will get back to you.</p>"),
}
STYLE = """body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f}header,main{max-width:44rem;margin:auto;
padding:1rem}nav a{margin-right:1rem}#consent{position:fixed;bottom:0;left:0;right:0;background:#f4f4f6;padding:1rem;
border-top:1px solid #ccc;display:none}#consent button{font:inherit;padding:.5rem 1.2rem;margin-right:.5rem}
.ll-field{margin:0 0 1rem}.ll-field label{display:block;font-weight:600}
.ll-consent label{display:inline;font-weight:400}
input,select{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}.ll-consent input{width:auto}
.ll-error{color:#b00020;display:block}"""
BANNER = """<div id="consent" role="dialog" aria-labelledby="consent-title"><p id="consent-title">May we record your
visit to improve what we show you? You can change your mind at any time.</p>
<button type="button" id="accept">Accept</button><button type="button" id="refuse">Refuse</button></div>
<script>
window.leadline = window.leadline || [];
(function () {
  var banner = document.getElementById('consent');
  function decide(yes) {
    try { sessionStorage.setItem('demo-consent', yes ? 'yes' : 'no'); } catch (e) {}
    banner.style.display = 'none';
    window.leadline.push ? window.leadline.push(['consent', yes]) : window.leadline.consent(yes);
  }
  document.getElementById('accept').onclick = function () { decide(true); };
  document.getElementById('refuse').onclick = function () { decide(false); };
  var known = null;
  try { known = sessionStorage.getItem('demo-consent'); } catch (e) {}
  if (known) { decide(known === 'yes'); } else { banner.style.display = 'block'; }
}());
</script>"""


@router.get("/demo/site", response_class=HTMLResponse)
@router.get("/demo/site/{name}", response_class=HTMLResponse)
def demo_site(request: Request, session: ReadSession, name: str = "") -> HTMLResponse:
    workspace = session.query(Workspace).filter(Workspace.slug == DEMO_WORKSPACE).one_or_none()
    settings = get_tracking(session, workspace.id) if workspace is not None else None
    if workspace is None or settings is None or name not in PAGES:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No demo site here: run "
                            "<code>leadline demo</code> first.</p>", status_code=404)
    title, text = PAGES[name]
    form = demo_form(session, workspace.id) if name == "contact" else None
    embed = f'<div data-leadline-form="{escape(form.key)}"></div>' if form is not None else ""
    site = str(request.url_for("demo_site"))
    nav = " ".join(f'<a href="{site}{"/" + p if p else ""}">{escape(t)}</a>' for p, (t, _) in PAGES.items())
    script = str(request.url_for("tracking_script"))
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{escape(title)} · Demo site</title>"
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head><body>'
        f"<header><nav>{nav}</nav></header><main><h1>{escape(title)}</h1>{text}{embed}</main>{BANNER}"
        f'<script async src="{script}" data-key="{escape(settings.public_key)}"></script></body></html>')
