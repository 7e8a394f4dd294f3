/* Leadline website snippet. Consent first: nothing is stored or sent with an identifier before
   leadline.consent(true); without consent only a page count without identifiers is sent.
   <script async src="https://LEADLINE/t.js" data-key="pk_..."></script>   See "Website tracking and embeddable forms" in the README. */
(function (w, d) {
  'use strict';
  var old = w.leadline;
  if (old && old.version) { return; }
  var nav = w.navigator || {};
  var script = d.currentScript;
  if (!script) {
    var all = d.getElementsByTagName('script');
    for (var s = all.length - 1; s >= 0; s--) { if (/\/t\.js(\?|#|$)/.test(all[s].src)) { script = all[s]; break; } }
  }
  if (!script) { return; }
  function attr(name) { return script.getAttribute('data-' + name); }
  var key = attr('key') || '';
  var base = script.src.replace(/\/t\.js([?#].*)?$/, '');
  var endpoint = base + '/t/collect?k=' + encodeURIComponent(key);
  var gpc = attr('honour-gpc') !== 'false' && nav.globalPrivacyControl === true;
  var CLICK_IDS = ['gclid', 'fbclid', 'li_fat_id', 'msclkid'];
  var UTM = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'];
  var store = null;
  try { store = w.localStorage; store.getItem('ll_c'); } catch (e) { store = null; }
  function get(k) { try { return store ? store.getItem('ll_' + k) : null; } catch (e) { return null; } }
  function put(k, v) { try { if (store) { store.setItem('ll_' + k, v); } } catch (e) { /* full or blocked */ } }
  function drop(k) { try { if (store) { store.removeItem('ll_' + k); } } catch (e) { /* blocked */ } }
  function now() { return new Date().getTime(); }
  function rid() {
    var c = w.crypto, out = '', i;
    if (c && c.getRandomValues) {
      var a = new Uint32Array(4);
      c.getRandomValues(a);
      for (i = 0; i < 4; i++) { out += a[i].toString(36); }
    } else {
      for (i = 0; i < 4; i++) { out += Math.floor(Math.random() * 2147483647).toString(36); }
    }
    return out + now().toString(36);
  }
  function each(list, fn) { for (var i = 0; i < list.length; i++) { fn(list[i], i); } }
  function params() {
    var out = {}, q = w.location.search.replace(/^\?/, '');
    if (!q) { return out; }
    each(q.split('&'), function (part) {
      var kv = part.split('='), name;
      try { name = decodeURIComponent(kv[0]); out[name] = decodeURIComponent((kv[1] || '').replace(/\+/g, ' ')); } catch (e) { /* bad escape */ }
    });
    return out;
  }
  function hostOf(url) { var m = /^[a-z]+:\/\/([^\/?#:]+)/i.exec(url || ''); return m ? m[1].toLowerCase() : ''; }

  // Where this visit came from: UTM fields, click ids and an outside referrer (none for internal navigation).
  var query = params();
  var landing = null;
  (function () {
    var src = {}, found = false, ref = d.referrer;
    each(UTM.concat(CLICK_IDS), function (n) { if (query[n]) { src[n] = query[n].substring(0, 500); found = true; } });
    if (ref && hostOf(ref) !== w.location.hostname.toLowerCase()) { src.referrer = ref; found = true; }
    if (found || !ref) { src.landing_page = w.location.href.substring(0, 2000); src.at = now(); landing = src; }
  }());

  // consent: null undecided, true given, false refused (or Global Privacy Control).
  var consent = gpc ? false : (attr('require-consent') === 'false' || get('c') === '1') ? true : null;
  if (gpc) { drop('c'); drop('v'); drop('src'); }  // a privacy signal turned on later also forgets
  var held = [];   // page views seen before any decision: memory only
  var queue = [];  // identified events waiting for the next batch
  var timer = null;

  function send(payload, beacon) {
    var body = JSON.stringify(payload);
    try { if (beacon !== false && nav.sendBeacon && nav.sendBeacon(endpoint, body)) { return; } } catch (e) { /* fall back */ }
    try {
      if (w.fetch) {
        w.fetch(endpoint, {method: 'POST', body: body, keepalive: true, credentials: 'omit', headers: {'Content-Type': 'text/plain'}})['catch'](function () {});
        return;
      }
    } catch (e) { /* fall back */ }
    try {
      var x = new XMLHttpRequest();
      x.open('POST', endpoint, true);
      x.setRequestHeader('Content-Type', 'text/plain');
      x.send(body);
    } catch (e) { /* offline */ }
  }
  function visitor() {
    var v = get('v');
    if (!v) { v = 'v1.' + rid(); put('v', v); }
    return v;
  }
  function flush() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (consent === true && queue.length) {
      var batch = queue.splice(0, 50);
      send({consent: true, visitor: visitor(), events: batch});
      if (queue.length) { flush(); }
    }
  }
  function push(ev) {
    queue.push(ev);
    if (queue.length >= 20) { flush(); } else if (!timer) { timer = setTimeout(flush, 1000); }
  }
  function counted(views) {
    if (!views.length) { return; }
    var events = [];
    each(views, function (ev) { events.push({type: 'page_view', props: {path: ev.props.path}}); });
    send({consent: false, events: events});
  }
  function stored() {
    try { return JSON.parse(get('src') || 'null'); } catch (e) { return null; }
  }
  function identified(ev) {
    if (ev.source) {
      var first = stored();
      if (!first) { put('src', JSON.stringify(ev.source)); }
    }
    push(ev);
  }
  function pageView(props) {
    var ev = {type: 'page_view', id: rid(), at: now(), props: props || {
      path: w.location.pathname, title: d.title.substring(0, 500), url: w.location.href.substring(0, 2000),
      referrer: d.referrer || null}};
    if (landing && !props) { ev.source = landing; landing = null; }
    if (consent === true) { identified(ev); } else if (consent === false) { counted([ev]); } else { held.push(ev); }
  }
  function setConsent(given) {
    given = given === true && !gpc;
    if (given === consent) { return; }
    consent = given;
    var waiting = held;
    held = [];
    if (given) {
      put('c', '1');
      each(waiting, identified);
      identifyLink();
    } else {
      // Refusing is as easy as accepting, and forgets everything kept so far.
      drop('c'); drop('v'); drop('src');
      queue = [];
      counted(waiting);
    }
  }
  function track(type, props) {
    if (typeof type !== 'string') { return false; }
    if (type === 'page_view') { pageView(props); return true; }
    if (consent !== true) { return false; }
    push({type: type, id: rid(), at: now(), props: props || {}});
    return true;
  }
  function identify(email) {
    if (consent !== true || !email) { return false; }
    var source = stored();
    var ev = {type: 'identify', id: rid(), at: now(), email: String(email)};
    if (source) { delete source.at; ev.source = source; }
    queue.push(ev);
    flush();
    drop('src');  // kept only until the visitor identifies
    return true;
  }
  // A click in one of our emails lands with `ll_id`, a signed token naming the lead: with consent, it
  // identifies the visitor (the server checks the signature; the page never learns who it is).
  function identifyLink() {
    if (consent !== true || !query.ll_id) { return; }
    queue.push({type: 'identify', id: rid(), at: now(), token: query.ll_id.substring(0, 2000)});
    query.ll_id = null;
    flush();
  }
  function safe(fn) {
    return function () { try { return fn.apply(null, arguments); } catch (e) { return false; } };
  }

  // Embeddable forms: <div data-leadline-form="FORM_KEY"></div>
  function el(tag, props, parent) {
    var e = d.createElement(tag);
    for (var p in props) { if (props.hasOwnProperty(p)) { if (p === 'text') { e.appendChild(d.createTextNode(props[p])); } else { e.setAttribute(p, props[p]); } } }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function hidden(form, name, value) { if (value) { el('input', {type: 'hidden', name: name, value: value}, form); } }
  function renderForm(box, def) {
    var id = 'll-' + def.key + '-';
    var form = el('form', {'class': 'leadline-form', action: def.action_url, method: 'post', novalidate: 'novalidate'});
    each(def.fields, function (f) {
      if (f.type === 'hidden') { hidden(form, f.name, query[f.name]); return; }  // filled from the page address
      var wrap = el('div', {'class': 'll-field' + (f.type === 'checkbox' ? ' ll-check' : '')}, form);
      var label = el('label', {'for': id + f.name, text: f.label + (f.required ? ' *' : '')});
      var input;
      if (f.type === 'textarea') {
        input = el('textarea', {id: id + f.name, name: f.name, rows: '4'});
      } else if (f.type === 'select') {
        input = el('select', {id: id + f.name, name: f.name});
        el('option', {value: '', text: ''}, input);
        each(f.options, function (o) { el('option', {value: o, text: o}, input); });
      } else {
        input = el('input', {id: id + f.name, name: f.name, type: f.type === 'checkbox' ? 'checkbox' : f.type});
        if (f.type === 'checkbox') { input.value = 'yes'; }
        if (f.name === 'email') { input.setAttribute('autocomplete', 'email'); }
      }
      if (f.required) { input.setAttribute('required', 'required'); input.setAttribute('aria-required', 'true'); }
      if (f.type === 'checkbox') { wrap.appendChild(input); wrap.appendChild(label); } else { wrap.appendChild(label); wrap.appendChild(input); }
      el('span', {'class': 'll-error', id: id + f.name + '-error', 'aria-live': 'polite'}, wrap);
      input.setAttribute('aria-describedby', id + f.name + '-error');
    });
    each(def.consent_boxes || [], function (b) {
      var wrap = el('div', {'class': 'll-field ll-consent'}, form);
      el('input', {type: 'checkbox', id: id + 'consent_' + b.purpose, name: 'consent_' + b.purpose, value: 'yes'}, wrap);
      el('label', {'for': id + 'consent_' + b.purpose, text: b.label}, wrap);
    });
    var trap = el('div', {'aria-hidden': 'true', style: 'position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden'}, form);
    el('label', {'for': id + 'hp', text: 'Leave this field empty'}, trap);
    el('input', {id: id + 'hp', name: def.honeypot_field, type: 'text', tabindex: '-1', autocomplete: 'off'}, trap);
    hidden(form, '_t', def.timing);
    el('button', {type: 'submit', text: def.submit_label || 'Send'}, form);
    var status = el('p', {'class': 'll-status', role: 'status', 'aria-live': 'polite'}, form);
    form.onsubmit = function (e) {
      if (e && e.preventDefault) { e.preventDefault(); }
      var parts = [], sent = {}, src = consent === true ? (stored() || {}) : {};
      each(form.elements, function (input) {
        if (!input.name || (input.type === 'checkbox' && !input.checked)) { return; }
        sent[input.name] = 1;
        parts.push(encodeURIComponent(input.name) + '=' + encodeURIComponent(input.value));
      });
      each(UTM.concat(CLICK_IDS, ['referrer', 'landing_page']), function (n) {
        var v = src[n] || (n in query ? query[n] : '');
        if (v && !sent[n]) { parts.push(n + '=' + encodeURIComponent(v)); }
      });
      if (consent === true) { flush(); parts.push('anonymous_id=' + encodeURIComponent(visitor())); }
      var x = new XMLHttpRequest();
      x.open('POST', def.action_url, true);
      x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
      x.setRequestHeader('Accept', 'application/json');
      x.onreadystatechange = function () {
        if (x.readyState !== 4) { return; }
        var answer = {};
        try { answer = JSON.parse(x.responseText); } catch (err) { answer = {}; }
        each(form.querySelectorAll('.ll-error'), function (span) { span.textContent = ''; });
        if (x.status === 200) {
          if (consent === true) { drop('src'); }
          if (def.redirect_url) { w.location.href = def.redirect_url; return; }
          box.innerHTML = '';
          el('p', {'class': 'll-thanks', role: 'status', text: def.thank_you_message || 'Thank you!'}, box);
        } else if (x.status === 422 && answer.error) {
          each(answer.error.fields || [], function (p) {
            var span = d.getElementById(id + p.field + '-error');
            if (span) { span.textContent = p.reason; }
          });
          status.textContent = 'Please check the form.';
        } else {
          status.textContent = x.status === 429 ? 'Too many attempts, please try again in a minute.' : 'Sorry, something went wrong.';
        }
      };
      x.send(parts.join('&'));
      return false;
    };
    box.innerHTML = '';
    box.appendChild(form);
  }
  function forms() {
    each(d.querySelectorAll ? d.querySelectorAll('[data-leadline-form]') : [], function (box) {
      if (box.getAttribute('data-leadline-ready')) { return; }
      box.setAttribute('data-leadline-ready', '1');
      var x = new XMLHttpRequest();
      x.open('GET', base + '/f/' + encodeURIComponent(box.getAttribute('data-leadline-form')) + '/definition', true);
      x.onreadystatechange = function () {
        if (x.readyState === 4 && x.status === 200) { try { renderForm(box, JSON.parse(x.responseText)); } catch (e) { /* leave it */ } }
      };
      x.send();
    });
  }

  var api = {version: 1, consent: safe(setConsent), track: safe(track), identify: safe(identify),
             page: safe(pageView), forms: safe(forms), flush: safe(flush),
             consentGiven: function () { return consent; }};
  w.leadline = api;

  // Consent managers: TCF v2 (purpose 1), Cookiebot (statistics), or any banner dispatching
  // window.dispatchEvent(new CustomEvent('leadline:consent', {detail: true|false})).
  var cmp = attr('cmp');
  if (cmp === 'tcf' && typeof w.__tcfapi === 'function') {
    w.__tcfapi('addEventListener', 2, function (tc, ok) {
      if (ok && tc && (tc.eventStatus === 'useractioncomplete' || tc.eventStatus === 'tcloaded')) {
        api.consent(!!(tc.purpose && tc.purpose.consents && tc.purpose.consents[1]));
      }
    });
  }
  if (cmp === 'cookiebot' && w.addEventListener) {
    w.addEventListener('CookiebotOnAccept', function () { api.consent(!!(w.Cookiebot && w.Cookiebot.consent && w.Cookiebot.consent.statistics)); });
    w.addEventListener('CookiebotOnDecline', function () { api.consent(false); });
  }
  if (w.addEventListener) {
    w.addEventListener('leadline:consent', function (e) { api.consent(e && e.detail === true); });
    // Leaving the page: send what waits; undecided page views count without identifiers.
    var leave = function () { flush(); counted(held); held = []; };
    w.addEventListener('pagehide', leave);
    d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') { leave(); } });
  }
  // Calls made before the script loaded: window.leadline = window.leadline || []; leadline.push(['consent', true])
  if (old && old.length) { each(old, function (call) { if (api[call[0]]) { api[call[0]].apply(null, [].slice.call(call, 1)); } }); }
  api.page();
  identifyLink();
  if (d.readyState === 'loading') { d.addEventListener('DOMContentLoaded', api.forms); } else { api.forms(); }
}(window, document));
