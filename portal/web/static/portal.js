// Herald portal: the little JavaScript the pages use. Every page shows its
// data and its forms post without it; this adds what is live: the audience
// estimate and the notification preview as the compose form changes, the
// extras JSON checked as it is typed, the delivery funnel and its chart
// over server-sent events, segment sizes, local times and confirmations.
// No dependency but the vendored uPlot, which the message page loads.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
const fmt = (n) => Number(n).toLocaleString('en-US');

// post sends a form's fields to a portal endpoint and returns its JSON.
async function post(url, body, signal) {
  const res = await fetch(url, {
    method: 'POST',
    body,
    signal,
    credentials: 'same-origin',
    headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' },
  });
  let data = {};
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = new Error(data.error?.message || `The portal answered ${res.status}.`);
    e.field = data.error?.field || '';
    throw e;
  }
  return data;
}

// setError shows message next to the input named name (empty clears it).
function setError(form, name, message) {
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (slot) slot.textContent = message;
  for (const input of form.querySelectorAll(`[name="${CSS.escape(name)}"]`)) {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  return Boolean(slot);
}

// Times: shown in the browser's time zone (the server writes UTC).
for (const t of document.querySelectorAll('time[datetime]')) {
  const d = new Date(t.dateTime);
  if (!Number.isNaN(d.getTime())) {
    t.title = t.textContent;
    t.textContent = d.toLocaleString();
  }
}

// Confirmations of what cannot be undone.
document.addEventListener('submit', (e) => {
  const form = e.target.closest('form[data-confirm]');
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
});

// Parts of a form shown only for a choice: data-when="name=value".
function applyWhen(root) {
  for (const el of root.querySelectorAll('[data-when]')) {
    const [name, value] = el.dataset.when.split('=');
    const form = el.closest('form');
    if (!form) continue;
    const controls = form.querySelectorAll(`[name="${CSS.escape(name)}"]`);
    let current = '';
    for (const c of controls) {
      if (c.type === 'radio' || c.type === 'checkbox') { if (c.checked) current = c.value; } else current = c.value;
    }
    el.hidden = current !== value;
  }
}
applyWhen(document);
document.addEventListener('change', () => applyWhen(document));

// The compose form: preview, extras, estimate.
const compose = document.querySelector('form[data-compose]');
if (compose) {
  const preview = () => {
    for (const name of ['title', 'content']) {
      const value = compose.elements[name]?.value ?? '';
      for (const el of document.querySelectorAll(`[data-preview="${name}"]`)) el.textContent = value;
    }
  };
  const checkExtras = () => {
    const input = compose.elements.extras;
    if (!input) return;
    const text = input.value.trim();
    let message = '';
    if (text) {
      try {
        const v = JSON.parse(text);
        if (v === null || typeof v !== 'object' || Array.isArray(v)) message = 'message.extras must be a JSON object';
      } catch (err) {
        message = `message.extras is not valid JSON: ${err.message}`;
      }
    }
    setError(compose, 'extras', message);
  };
  const audienceNames = new Set(['audience', 'platform', 'tag', 'tag_and', 'tag_not', 'alias', 'registration_id', 'segment']);
  const output = document.getElementById('estimate');
  let timer = 0;
  let inflight = null;
  let placed = '';
  const estimate = async () => {
    inflight?.abort();
    inflight = new AbortController();
    const body = new URLSearchParams(new FormData(compose));
    output.textContent = 'estimating…';
    try {
      const est = await post(compose.dataset.estimateUrl, body, inflight.signal);
      if (placed) { setError(compose, placed, ''); placed = ''; }
      output.textContent = `${fmt(est.estimate)} devices${est.exact ? '' : ' (estimated from a sample)'}`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (placed) setError(compose, placed, '');
      placed = err.field && setError(compose, err.field, err.message) ? err.field : '';
      output.textContent = placed ? '—' : err.message;
    }
  };
  const changed = (e) => {
    const name = e.target?.name;
    if (name === 'title' || name === 'content') preview();
    if (name === 'extras') checkExtras();
    if (audienceNames.has(name)) {
      clearTimeout(timer);
      timer = setTimeout(estimate, 300);
    }
  };
  compose.addEventListener('input', changed);
  compose.addEventListener('change', changed);
  checkExtras();
  if (output) estimate();
}

// Segment sizes in the segments list, a few at a time.
const segTable = document.querySelector('[data-estimate-url] [data-segment-estimate]')?.closest('[data-estimate-url]');
if (segTable) {
  const cells = [...segTable.querySelectorAll('[data-segment-estimate]')];
  const url = segTable.dataset.estimateUrl;
  const work = async () => {
    for (let cell = cells.shift(); cell; cell = cells.shift()) {
      const body = new URLSearchParams({ audience: 'filter', segment: cell.dataset.segmentEstimate });
      try {
        const est = await post(url, body);
        cell.textContent = `${est.exact ? '' : '≈ '}${fmt(est.estimate)}`;
      } catch (err) {
        cell.textContent = '—';
        cell.title = err.message;
      }
    }
  };
  for (let i = 0; i < 4; i++) work();
}

// The live delivery funnel and its chart.
const funnel = document.querySelector('[data-events]');
if (funnel) {
  const status = funnel.querySelector('[data-live-status]');
  const stateEl = document.querySelector('[data-live-state]');
  const chartEl = document.getElementById('delivery-chart');
  const series = [[], [], [], []]; // time (s), sent, delivered, clicked
  let chart = null;
  const addSample = (s) => {
    const t = s.t / 1000;
    const last = series[0].length - 1;
    if (last >= 0 && t <= series[0][last]) return;
    series[0].push(t); series[1].push(s.sent); series[2].push(s.delivered); series[3].push(s.clicked);
  };
  const draw = () => {
    if (!chartEl || !window.uPlot || series[0].length === 0) return;
    if (!chart) {
      chart = new window.uPlot({
        width: Math.max(chartEl.clientWidth - 16, 200),
        height: 240,
        series: [
          {},
          { label: 'Sent', stroke: '#9a6700', width: 2 },
          { label: 'Delivered', stroke: '#1a7f37', width: 2 },
          { label: 'Clicked', stroke: '#0b5fbd', width: 2 },
        ],
        scales: {
          // Set by timeSpan below: uPlot pads a single reading by years.
          x: { time: true, auto: false },
          y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
        },
        axes: [{}, { size: 60 }],
      }, series, chartEl);
      window.addEventListener('resize', () => chart.setSize({ width: Math.max(chartEl.clientWidth - 16, 200), height: 240 }));
    } else {
      chart.setData(series, false);
    }
    // At least half a minute of time, so that the first readings of a
    // push, milliseconds apart, show as the start of a curve.
    const first = series[0][0];
    chart.setScale('x', { min: first, max: Math.max(series[0][series[0].length - 1], first + 30) });
  };
  const show = (ev) => {
    const targeted = Math.max(ev.targeted, 1);
    for (const el of funnel.querySelectorAll('[data-counter]')) {
      const v = ev[el.dataset.counter];
      if (v !== undefined) el.textContent = fmt(v);
    }
    for (const bar of funnel.querySelectorAll('progress[data-bar]')) {
      bar.max = targeted;
      bar.value = ev[bar.dataset.bar] ?? 0;
    }
    if (stateEl && ev.state) {
      stateEl.textContent = ev.state;
      stateEl.className = `state state-${ev.state}`;
    }
  };
  const es = new EventSource(funnel.dataset.events);
  es.addEventListener('history', (e) => {
    for (const s of JSON.parse(e.data) ?? []) addSample(s);
    draw();
  });
  es.addEventListener('report', (e) => {
    const ev = JSON.parse(e.data);
    show(ev);
    addSample(ev);
    draw();
    if (status && !ev.finished) status.textContent = `Live: updated ${new Date(ev.t).toLocaleTimeString()}.`;
  });
  es.addEventListener('done', () => {
    es.close();
    if (status) status.textContent = 'Final figures: the message is finished.';
  });
  es.addEventListener('failure', (e) => {
    es.close();
    if (status) status.textContent = `Live updates stopped: ${JSON.parse(e.data).message}`;
  });
  es.onerror = () => {
    if (status && es.readyState !== EventSource.CLOSED) status.textContent = 'Live: reconnecting…';
    else if (status) status.textContent = 'Live updates stopped; reload the page to resume.';
  };
}
