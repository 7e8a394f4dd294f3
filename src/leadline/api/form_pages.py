"""HTML of hosted forms (`GET /f/{key}`): the same markup the snippet builds, every input with its label,
consent boxes never pre-ticked, a honeypot hidden from people and screen readers, and the signed timing field."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from leadline.core.tracking import ConsentBox, FormField

STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
.ll-field{margin:0 0 1rem}.ll-field label{display:block;font-weight:600}
.ll-check label,.ll-consent label{display:inline;font-weight:400;margin-left:.4rem}
input,select,textarea{font:inherit;width:100%;padding:.4rem;box-sizing:border-box}
.ll-check input,.ll-consent input{width:auto}.ll-error{color:#b00020;display:block}
button{font:inherit;padding:.5rem 1.2rem}"""


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{STYLE}</style>'
            f"</head><body><main>{body}</main></body></html>")


def _input(key: str, f: FormField, value: str) -> str:
    ident = f"ll-{key}-{f.name}"
    required = ' required aria-required="true"' if f.required else ""
    described = f' aria-describedby="{ident}-error"'
    label = f'<label for="{ident}">{escape(f.label)}{" *" if f.required else ""}</label>'
    error = f'<span class="ll-error" id="{ident}-error" aria-live="polite"></span>'
    if f.type == "textarea":
        control = f'<textarea id="{ident}" name="{f.name}" rows="4"{required}{described}>{escape(value)}</textarea>'
    elif f.type == "select":
        options = "".join(f'<option value="{escape(o)}"{" selected" if o == value else ""}>{escape(o)}</option>'
                          for o in f.options)
        control = (f'<select id="{ident}" name="{f.name}"{required}{described}><option value=""></option>'
                   f"{options}</select>")
    elif f.type == "checkbox":
        control = f'<input type="checkbox" id="{ident}" name="{f.name}" value="yes"{required}{described}>'
        return f'<div class="ll-field ll-check">{control}{label}{error}</div>'
    else:
        auto = ' autocomplete="email"' if f.name == "email" else ""
        control = (f'<input type="{f.type}" id="{ident}" name="{f.name}" value="{escape(value)}"{auto}{required}'
                   f"{described}>")
    return f'<div class="ll-field">{label}{control}{error}</div>'


def form_html(*, key: str, name: str, action: str, fields: list[FormField], boxes: list[ConsentBox],
              honeypot: str, timing: str, hidden: Mapping[str, str], values: Mapping[str, str] | None = None,
              errors: Mapping[str, str] | None = None) -> str:
    values, errors = values or {}, errors or {}
    parts = [f'<h1>{escape(name)}</h1><form class="leadline-form" method="post" action="{escape(action)}">']
    for f in fields:
        if f.type == "hidden":
            parts.append(f'<input type="hidden" name="{f.name}" value="{escape(values.get(f.name, ""))}">')
            continue
        block = _input(key, f, values.get(f.name, ""))
        if f.name in errors:
            block = block.replace('aria-live="polite"></span>', f'aria-live="polite">{escape(errors[f.name])}</span>')
        parts.append(block)
    for box in boxes:  # never pre-ticked, whatever was sent before
        ident = f"ll-{key}-{box.field_name}"
        parts.append(f'<div class="ll-field ll-consent"><input type="checkbox" id="{ident}" name="{box.field_name}" '
                     f'value="yes"><label for="{ident}">{escape(box.label)}</label></div>')
    parts.append(f'<div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;height:1px;'
                 f'overflow:hidden"><label for="ll-{key}-hp">Leave this field empty</label><input type="text" '
                 f'id="ll-{key}-hp" name="{escape(honeypot)}" tabindex="-1" autocomplete="off"></div>')
    parts.append(f'<input type="hidden" name="_t" value="{escape(timing)}">')
    parts.extend(f'<input type="hidden" name="{escape(n)}" value="{escape(v)}">' for n, v in hidden.items() if v)
    parts.append('<button type="submit">Send</button></form>')
    return "".join(parts)
