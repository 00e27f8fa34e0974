// The live status page of `muster serve` (GET /): one HTML file, no build step. It reads
// Server-Sent Events from /events: a `status` snapshot every second and a `change` per
// +node / -node / node down / shard event the service's member sees.

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>muster status</title>
<style>
  :root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; --line: #d0d7de; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 72rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
  header p { margin: 0; color: var(--muted); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
  td.num { font-variant-numeric: tabular-nums; }
  code { font: 12px ui-monospace, monospace; }
  .pill { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem; color: #fff; }
  .ok { background: var(--ok); } .warn { background: var(--warn); } .bad { background: var(--bad); }
  .empty { color: var(--muted); font-style: italic; }
  #changes li { margin: .15rem 0; } #changes .t { color: var(--muted); font-variant-numeric: tabular-nums; }
  .join { color: var(--ok); } .leave { color: var(--bad); } .down { color: var(--warn); }
  .cols { display: grid; grid-template-columns: 3fr 2fr; gap: 2rem; }
  @media (max-width: 50rem) { .cols { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>muster · group <span id="group">…</span></h1>
  <p>served by <code id="self">…</code> <span id="conn" class="pill warn">connecting</span></p>
</header>
<h2>Members <span id="count"></span></h2>
<table id="members">
  <thead><tr><th>Member</th><th>Shard</th><th>Last heartbeat</th><th>Joined</th><th>Meta</th></tr></thead>
  <tbody></tbody>
</table>
<div class="cols">
  <section>
    <h2>Recent changes</h2>
    <ul id="changes"><li class="empty">none yet</li></ul>
  </section>
  <section>
    <h2>Shards in use</h2>
    <table id="shards">
      <thead><tr><th>Shard</th><th>State</th><th>Holder / until</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</div>
<script>
  const $ = (s) => document.querySelector(s);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const time = (ms) => new Date(ms).toLocaleTimeString();
  function age(ms) { return ms == null ? '–' : ms < 1000 ? ms + ' ms ago' : (ms / 1000).toFixed(1) + ' s ago'; }
  let changes = [];
  function renderChanges() {
    const ul = $('#changes');
    if (changes.length === 0) { ul.innerHTML = '<li class="empty">none yet</li>'; return; }
    ul.innerHTML = changes.slice().reverse().map((c) => {
      const cls = c.kind === '+node' ? 'join' : c.kind === '-node' ? 'leave' : c.kind === 'node down' ? 'down' : '';
      return '<li data-kind="' + esc(c.kind) + '" data-id="' + esc(c.id) + '"><span class="t">' + time(c.at) + '</span> <b class="' + cls + '">' + esc(c.kind) + '</b> <code>' + esc(c.id) + '</code>' + (c.detail ? ' · ' + esc(c.detail) : '') + '</li>';
    }).join('');
  }
  function render(s) {
    $('#group').textContent = s.group;
    $('#self').textContent = s.self.id + (s.self.shard == null ? '' : ' (shard ' + s.self.shard + ')');
    $('#count').textContent = '(' + s.members.length + ')';
    const rows = s.members.map((m) => {
      const late = m.beatAgeMs != null && m.beatAgeMs > 2000;
      return '<tr data-member="' + esc(m.id) + '"><td><code>' + esc(m.id) + '</code></td><td class="num">' + (m.shard == null ? '–' : m.shard) +
        '</td><td class="num"><span class="pill ' + (m.beatAgeMs == null ? 'warn' : late ? 'bad' : 'ok') + '">' + age(m.beatAgeMs) + '</span></td><td>' + time(m.joinedAt) +
        '</td><td><code>' + esc(JSON.stringify(m.meta)) + '</code></td></tr>';
    });
    $('#members tbody').innerHTML = rows.join('') || '<tr><td colspan="5" class="empty">no live members</td></tr>';
    $('#shards tbody').innerHTML = s.shards.map((x) =>
      '<tr data-shard="' + x.shard + '"><td class="num">' + x.shard + '</td><td><span class="pill ' + (x.state === 'held' ? 'ok' : 'warn') + '">' + x.state + '</span></td><td>' +
      (x.state === 'held' ? '<code>' + esc(x.holder) + '</code>' : 'until ' + time(x.until)) + '</td></tr>').join('') || '<tr><td colspan="3" class="empty">none</td></tr>';
    changes = s.changes;
    renderChanges();
  }
  const es = new EventSource('events');
  es.addEventListener('open', () => { $('#conn').textContent = 'live'; $('#conn').className = 'pill ok'; });
  es.addEventListener('error', () => { $('#conn').textContent = 'reconnecting'; $('#conn').className = 'pill bad'; });
  es.addEventListener('status', (e) => render(JSON.parse(e.data)));
  es.addEventListener('change', (e) => { changes.push(JSON.parse(e.data)); if (changes.length > 50) changes.shift(); renderChanges(); });
</script>
</body>
</html>
`;
