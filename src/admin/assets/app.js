// hearth's admin console: every page works without this script; it adds
// live updates. A page that lists topics (data-live-source, data-topics)
// opens the site's realtime stream; when a topic fires (a record changed, a
// schema changed) the page's regions ([data-region]) are fetched again and
// swapped in place, keeping what the user has typed in a form. A region
// with data-poll is fetched again every so often (the traffic chart); the
// sites pages redraw when a deploy, a rollback or a host change commits
// (data-changes-source); the log page appends each new line it is sent
// (data-log-source).
(function () {
  'use strict';
  if (!window.EventSource || !window.fetch) return;
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
  // Collections and records: the site's realtime stream names the topics.
  var live = document.querySelector('[data-live-source]');
  if (live) {
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
    topics.forEach(function (t) { stream.addEventListener(t, refresh); });
  }

  // Sites and versions: the server says when they changed.
  var changes = document.querySelector('[data-changes-source]');
  if (changes) {
    var feed = new EventSource(changes.getAttribute('data-changes-source'));
    feed.addEventListener('open', function () { document.documentElement.setAttribute('data-live', 'on'); });
    feed.addEventListener('sites', refresh);
  }

  // Regions that poll (the traffic chart).
  var poll = document.querySelector('[data-poll]');
  if (poll) setInterval(refresh, Number(poll.getAttribute('data-poll')) || 2000);

  // The log: each new line is a row at the end.
  var log = document.querySelector('[data-log-source]');
  if (log) {
    var tail = new EventSource(log.getAttribute('data-log-source'));
    tail.addEventListener('open', function () { document.documentElement.setAttribute('data-live', 'on'); });
    tail.addEventListener('log', function (e) {
      var line;
      try { line = JSON.parse(e.data); } catch (err) { return; }
      var details = Object.keys(line).filter(function (k) { return k !== 'ts' && k !== 'level' && k !== 'msg'; })
        .map(function (k) { return k + '=' + (typeof line[k] === 'string' ? line[k] : JSON.stringify(line[k])); }).join(' ');
      var row = document.createElement('tr');
      row.className = 'log-' + line.level;
      [line.ts, line.level, line.msg, details].forEach(function (text) {
        var cell = document.createElement('td');
        cell.textContent = text === undefined ? '' : text;  // text, never markup
        row.appendChild(cell);
      });
      log.appendChild(row);
      while (log.rows.length > 500) log.deleteRow(0);
    });
  }
})();
