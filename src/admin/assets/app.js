// hearth's admin console: every page works without this script; it adds
// live updates. A page that lists topics (data-live-source, data-topics)
// opens the site's realtime stream; when a topic fires (a record changed, a
// schema changed) the page's regions ([data-region]) are fetched again and
// swapped in place, keeping what the user has typed in a form.
(function () {
  'use strict';
  var live = document.querySelector('[data-live-source]');
  if (!live || !window.EventSource || !window.fetch) return;
  var source = live.getAttribute('data-live-source');
  var topics = live.getAttribute('data-topics').split(' ').filter(Boolean);
  var csrf = live.getAttribute('data-csrf');
  var stream = new EventSource(source);

  stream.addEventListener('PB_CONNECT', function (e) {
    var body = new URLSearchParams();
    body.append('csrf', csrf);
    body.append('clientId', JSON.parse(e.data).clientId);
    topics.forEach(function (t) { body.append('topics', t); });
    fetch(source, { method: 'POST', body: body, credentials: 'same-origin' }).then(function () {
      document.documentElement.setAttribute('data-live', 'on');  // tests wait for this
    });
  });

  // What the user typed stays: values move into the fresh form by name.
  function carry(from, to) {
    from.querySelectorAll('input[name], select[name], textarea[name]').forEach(function (old) {
      if (old.type === 'hidden') return;
      var fresh = to.querySelectorAll('[name="' + CSS.escape(old.name) + '"]');
      fresh.forEach(function (el) {
        if (el.type === 'checkbox' || el.type === 'radio') {
          if (old.type === el.type && old.value === el.value) el.checked = old.checked;
        } else if (el.tagName === old.tagName) {
          el.value = old.value;
        }
      });
    });
  }

  var pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(location.href, { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          document.querySelectorAll('[data-region]').forEach(function (region) {
            var fresh = doc.querySelector('[data-region="' + region.getAttribute('data-region') + '"]');
            if (!fresh) return;
            var focused = document.activeElement && region.contains(document.activeElement) ? document.activeElement.name : null;
            carry(region, fresh);
            region.replaceWith(fresh);
            if (focused) {
              var again = fresh.querySelector('[name="' + CSS.escape(focused) + '"]');
              if (again) again.focus();
            }
          });
          document.documentElement.setAttribute('data-refreshed', String(Date.now()));
        });
    }, 100);
  }
  topics.forEach(function (t) { stream.addEventListener(t, refresh); });
})();
