// Draws the neurosweep HTML report from the JSON in #ns-data with Plotly (inlined above).
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('ns-data').textContent);
  const M = D.metric;
  const CONFIG = { displaylogo: false, responsive: true };

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function num(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '-';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }
  function empty(container, text) { container.appendChild(el('p', { class: 'empty' }, text)); }
  function plot(container, traces, layout, config) {
    const div = el('div', { class: 'plot' });
    container.appendChild(div);
    const base = { margin: { l: 60, r: 20, t: 48, b: 50 }, height: 320, hovermode: 'closest' };
    // Titles on the left, clear of the mode bar on the right.
    if (layout.title) layout.title = Object.assign({ x: 0.01, xanchor: 'left', font: { size: 14 } }, layout.title);
    Plotly.newPlot(div, traces, Object.assign(base, layout), Object.assign({}, CONFIG, config || {}));
    return div;
  }
  function table(container, header, rows, numeric) {
    const t = el('table');
    const tr = el('tr');
    header.forEach((h, i) => tr.appendChild(el('th', numeric[i] ? { class: 'num' } : {}, h)));
    t.appendChild(el('thead')).appendChild(tr);
    const body = el('tbody');
    rows.forEach((r) => {
      const row = el('tr');
      r.forEach((c, i) => row.appendChild(el('td', numeric[i] ? { class: 'num' } : {}, c)));
      body.appendChild(row);
    });
    t.appendChild(body);
    container.appendChild(t);
    return t;
  }

  // `report DIR1 DIR2 ...`: the sweeps side by side, their best-so-far curves on one chart.
  if (D.compare) {
    document.getElementById('title').textContent = D.title;
    const cs = document.getElementById('summary');
    D.meta.forEach((m) => cs.appendChild(el('p', { class: 'meta' }, m)));
    const header = ['sweep', 'directory', 'family', 'search', 'trials', 'ok', 'stopped', 'failed',
      'trial seconds', 'best row', 'best trial', 'best configuration', 'mean ' + M, '± SEM', 'n'];
    const numeric = [false, false, false, false, true, true, true, true, true, true, false, false,
      true, true, true];
    const rows = D.sweeps.map((s) => {
      const c = s.best_config;
      return [s.label, s.dir, s.family, s.search, String(s.trials), String(s.ok), String(s.stopped),
        String(s.failed), num(s.trial_seconds), num(s.best_row ? s.best_row.value : null),
        s.best_row ? s.best_row.trial_id : '-', c ? c.params_text : '-', num(c ? c.value : null),
        num(c ? c.sem : null), c ? c.n + ' of ' + c.replicates : '-'];
    });
    table(document.getElementById('compare-table'), header, rows, numeric);
    plot(document.getElementById('compare-chart'), D.sweeps.map((s) => ({
      x: s.best_so_far.map((_, i) => i + 1), y: s.best_so_far, mode: 'lines', type: 'scatter',
      line: { shape: 'hv' }, name: s.label })),
    { title: { text: 'best ' + M + ' so far' }, height: 420,
      xaxis: { title: { text: 'trials, in the order they finished' } },
      yaxis: { title: { text: M } }, legend: { orientation: 'h', y: -0.25 } });
    document.body.setAttribute('data-ns-rendered', String(document.querySelectorAll('.main-svg').length));
    return;
  }

  // Header and summary.
  document.getElementById('title').textContent = D.title;
  const summary = document.getElementById('summary');
  D.meta.forEach((m) => summary.appendChild(el('p', { class: 'meta' }, m)));
  D.notes.forEach((m) => summary.appendChild(el('p', { class: 'note' }, m)));

  // Leaderboard of configurations.
  const lb = document.getElementById('leaderboard');
  if (D.configs.length === 0) {
    empty(lb, 'No ok trial with a finite ' + M + ' yet.');
  } else {
    const header = ['rank'].concat(D.varied, ['mean ' + M, '± SEM', 'n', 'best', 'best trial']);
    const numeric = [true].concat(D.varied.map(() => false), [true, true, true, true, false]);
    const rows = D.configs.map((c, i) => [String(i + 1)].concat(c.values,
      [num(c.mean), num(c.sem), String(c.n), num(c.best_value), c.best_id + (c.best_marked ? ' *' : '')]));
    table(lb, header, rows, numeric);
  }
  const pb = document.getElementById('problems');
  D.problems.forEach((g) => {
    pb.appendChild(el('p', { class: 'note' }, g.status + ': ' + g.count + ' trial(s)'));
    const ul = el('ul');
    g.messages.forEach((m) => ul.appendChild(el('li', {}, m[1] + '× ' + m[0])));
    pb.appendChild(ul);
  });

  // Metric against each hyperparameter: every ok trial, plus the mean per value.
  const vp = document.getElementById('vs-params');
  if (D.marginals.length === 0) empty(vp, 'No varied hyperparameters (or no ok trials yet).');
  D.marginals.forEach((m) => {
    const xs = D.points.map((p) => (m.numeric ? Number(p.values[m.param]) : p.values[m.param]));
    const ys = D.points.map((p) => p.value);
    const text = D.points.map((p) => p.id);
    const mx = m.rows.map((r) => (m.numeric ? Number(r.value) : r.value));
    const positive = m.numeric && mx.every((x) => x > 0);
    const logx = positive && Math.max(...mx) / Math.min(...mx) >= 10;
    plot(vp, [
      { x: xs, y: ys, text: text, mode: 'markers', type: 'scatter', name: 'trials',
        marker: { size: 8, opacity: 0.6, color: '#1f77b4' },
        hovertemplate: '%{text}<br>' + m.param + '=%{x}<br>' + M + '=%{y}<extra></extra>' },
      { x: mx, y: m.rows.map((r) => r.mean), mode: 'lines+markers', type: 'scatter',
        name: 'mean', line: { color: '#d62728' }, marker: { symbol: 'diamond', size: 10 } },
    ], {
      title: { text: M + ' vs ' + m.param },
      xaxis: Object.assign({ title: { text: m.param + ' (importance ' + num(m.importance) + ', spread of the means ' + num(m.spread) + ')' },
        type: m.numeric ? (logx ? 'log' : 'linear') : 'category' },
        // Ticks at the values tried, when they are few.
        m.numeric && mx.length <= 8 ? { tickvals: mx, ticktext: m.rows.map((r) => r.value) } : {}),
      yaxis: { title: { text: M } },
      legend: { orientation: 'h', y: -0.25 },
    });
  });

  // Heatmap over the two most important hyperparameters (PED-ANOVA).
  const hm = document.getElementById('heatmap');
  if (!D.heatmap) {
    empty(hm, 'Needs two varied hyperparameters with ok trials.');
  } else {
    const h = D.heatmap;
    const text = h.z.map((row, i) => row.map((v, j) => (v === null ? 'no trial' :
      num(v) + ' (n=' + h.n[i][j] + ')')));
    plot(hm, [{ type: 'heatmap', x: h.xs, y: h.ys, z: h.z, text: text, texttemplate: '%{text}',
      hovertemplate: h.x + '=%{x}<br>' + h.y + '=%{y}<br>mean ' + M + ' %{z}<extra></extra>',
      colorscale: 'Viridis', reversescale: !D.maximize, colorbar: { title: { text: 'mean ' + M } } }],
    { title: { text: 'mean ' + M + ' over ' + h.x + ' × ' + h.y },
      xaxis: { title: { text: h.x }, type: 'category' }, yaxis: { title: { text: h.y }, type: 'category' },
      height: 420 });
  }

  // What mattered (report/importance.hpp): PED-ANOVA importance as bars, every trial as a line
  // across the hyperparameters (parallel coordinates), and the metric against a second one with
  // the Pareto front.
  function drawImportance() {
    const c = document.getElementById('importance');
    const I = D.importance;
    if (!I || I.params.length === 0) { empty(c, 'No varied hyperparameters.'); return; }
    if (I.why_none) { empty(c, 'Not computed: ' + I.why_none + '.'); return; }
    const ps = I.params.slice().reverse();  // the most important on top
    plot(c, [{ type: 'bar', orientation: 'h', y: ps.map((p) => p.param),
      x: ps.map((p) => (p.fraction === null ? 0 : p.fraction)),
      text: ps.map((p) => (p.fraction === null ? 'n/a' : num(p.fraction))), textposition: 'auto',
      customdata: ps.map((p) => [num(p.raw), p.space]), marker: { color: '#1f77b4' },
      hovertemplate: '%{y}: %{text}<br>divergence %{customdata[0]}<br>%{customdata[1]}<extra></extra>' }],
    { title: { text: 'importance of reaching the top ' + I.top + ' of ' + I.trials + ' trials (fractions)' },
      xaxis: { title: { text: 'share of the summed Pearson divergences' }, range: [0, 1] },
      yaxis: { type: 'category', automargin: true }, height: Math.max(220, 60 + 40 * ps.length) });
    c.appendChild(el('p', { class: 'meta' }, 'Rows: ' + I.rows + '.'));
  }

  function viridis(t) {
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const rgb = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
    return 'rgb(' + rgb.join(',') + ')';
  }

  function drawParallel() {
    const c = document.getElementById('parallel');
    const P = D.parallel;
    if (!P || P.lines.length === 0 || P.axes.length === 0) {
      empty(c, 'Needs varied hyperparameters and trials with a finite ' + M + '.');
      return;
    }
    const maxLines = 1500;
    const lines = P.lines.slice(0, maxLines);
    // Each axis maps a trial's cell to [0, 1]: ranges linearly (log ranges in log space), value
    // sets evenly by their order (the values tried added to those declared).
    const axes = P.axes.map((a) => {
      if (a.kind === 'range' || a.kind === 'log') {
        const f = a.kind === 'log' ? Math.log : (v) => v;
        const lo = f(a.low), hi = f(a.high);
        return { name: a.param + (a.kind === 'log' ? ' (log)' : ''), labels: [[0, num(a.low)], [1, num(a.high)]],
          pos: (s) => (hi > lo ? (f(Number(s)) - lo) / (hi - lo) : 0.5) };
      }
      const values = a.values.slice();
      const numeric = a.kind === 'values';
      const idx = P.axes.indexOf(a);
      lines.forEach((l) => { if (!values.some((v) => v === l.cells[idx] || (numeric && Number(v) === Number(l.cells[idx])))) values.push(l.cells[idx]); });
      if (numeric) values.sort((x, y) => Number(x) - Number(y));
      const at = (s) => values.findIndex((v) => v === s || (numeric && Number(v) === Number(s)));
      const step = values.length > 1 ? 1 / (values.length - 1) : 0;
      const pos = (s) => (values.length > 1 ? at(s) * step : 0.5);
      const shown = values.length <= 12 ? values : [values[0], values[values.length - 1]];
      return { name: a.param, labels: shown.map((v) => [pos(v), v]), pos: pos };
    });
    const vs = lines.map((l) => l.value);
    const lo = Math.min(...vs), hi = Math.max(...vs);
    axes.push({ name: M, labels: [[0, num(lo)], [1, num(hi)]], pos: (v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5) });
    const xs = axes.map((_, i) => i);
    // Colour by rank (an outlier would leave one colour to the rest), the best yellow.
    const ranked = vs.slice().sort((a, b) => (D.maximize ? a - b : b - a));
    const rank = (v) => (ranked.length > 1 ? ranked.indexOf(v) / (ranked.length - 1) : 1);
    // Stopped trials behind, then the best last (on top).
    const order = lines.slice().sort((a, b) => ((a.status === 'ok') - (b.status === 'ok')) ||
      (rank(a.value) - rank(b.value)));
    const traces = order.map((l) => {
      const ok = l.status === 'ok';
      return { x: xs, y: l.cells.map((s, i) => axes[i].pos(s)).concat([axes[axes.length - 1].pos(l.value)]),
        mode: 'lines', type: 'scatter', showlegend: false, opacity: ok ? 0.9 : 0.35,
        line: { width: ok ? 2 : 1, color: ok ? viridis(rank(l.value)) : '#aaaaaa' },
        hovertemplate: l.id + ' (' + l.status + ')<br>' + M + ' ' + num(l.value) + '<extra></extra>' };
    });
    const annotations = [];
    axes.forEach((a, i) => a.labels.forEach(([y, text]) => annotations.push({ x: i, y: y, text: String(text),
      showarrow: false, xanchor: 'left', xshift: 4, font: { size: 10, color: '#444' } })));
    const shapes = xs.map((i) => ({ type: 'line', x0: i, x1: i, y0: 0, y1: 1, line: { color: '#666', width: 1 } }));
    const stopped = lines.filter((l) => l.status !== 'ok').length;
    let title = lines.length + ' trials';
    if (stopped) title += ', ' + stopped + ' stopped early (grey)';
    if (P.left_out) title += '; ' + P.left_out + ' failed or without a ' + M + ', left out';
    if (P.lines.length > maxLines) title += '; the first ' + maxLines + ' drawn';
    plot(c, traces, { title: { text: title + '; colour: rank by ' + M + ' (yellow best)' }, height: 440,
      xaxis: { tickvals: xs, ticktext: axes.map((a) => a.name), range: [-0.2, xs.length - 0.5],
        showgrid: false, zeroline: false },
      yaxis: { visible: false, range: [-0.05, 1.05] }, annotations: annotations, shapes: shapes });
  }

  function drawPareto() {
    const c = document.getElementById('pareto');
    const Q = D.pareto;
    if (!Q || Q.ids.length === 0) { empty(c, 'No ok trial with both metrics (--metric2).'); return; }
    const f = Q.front.slice().sort((i, j) => Q.x[i] - Q.x[j]);
    const M2 = Q.metric2;
    plot(c, [
      { x: Q.x, y: Q.y, text: Q.ids, mode: 'markers', type: 'scatter', name: 'ok trials',
        marker: { size: 7, opacity: 0.5, color: '#1f77b4' },
        hovertemplate: '%{text}<br>' + M2 + ' %{x}<br>' + M + ' %{y}<extra></extra>' },
      { x: f.map((i) => Q.x[i]), y: f.map((i) => Q.y[i]), text: f.map((i) => Q.ids[i]),
        mode: 'lines+markers', type: 'scatter', name: 'Pareto front',
        // Steps along the edge of the region the front dominates.
        line: { shape: Q.maximize2 ? 'vh' : 'hv', color: '#d62728' },
        marker: { size: 10, symbol: 'diamond', color: '#d62728' },
        hovertemplate: '%{text} (front)<br>' + M2 + ' %{x}<br>' + M + ' %{y}<extra></extra>' },
    ], { title: { text: M + ' (' + (D.maximize ? 'max' : 'min') + ') against ' + M2 + ' (' +
      (Q.maximize2 ? 'max' : 'min') + '): ' + Q.front.length + ' of ' + Q.ids.length + ' trials on the front' },
      xaxis: { title: { text: M2 } }, yaxis: { title: { text: M } }, height: 420,
      legend: { orientation: 'h', y: -0.25 } });
  }

  drawImportance();
  drawParallel();
  drawPareto();

  // Learning curves of the top trials (trials/<id>/curve.csv; first column is the x axis).
  const cv = document.getElementById('curves');
  if (D.curves.length === 0) empty(cv, 'No curve.csv found for the top trials.');
  const series = [];
  D.curves.forEach((c) => c.columns.forEach((s) => { if (!series.includes(s)) series.push(s); }));
  series.slice(0, 6).forEach((s) => {
    const traces = D.curves.filter((c) => c.columns.includes(s)).map((c) => ({
      x: c.x, y: c.series[s], mode: 'lines', type: 'scatter', name: c.label }));
    plot(cv, traces, { title: { text: s }, xaxis: { title: { text: D.curves[0].x_name } },
      yaxis: { title: { text: s } }, legend: { orientation: 'h', y: -0.25 } });
  });

  // A search (TPE): the best metric so far against the trials in the order they finished, the
  // random draws before the dashed line.
  const sr = document.getElementById('search');
  if (!D.search) {
    sr.style.display = 'none';
  } else {
    const S = D.search;
    const x = S.best.map((_, i) => i + 1);
    plot(document.getElementById('best-so-far'), [{ x: x, y: S.best, mode: 'lines+markers',
      type: 'scatter', line: { shape: 'hv' }, name: 'best so far' }],
      { title: { text: 'best ' + M + ' so far (' + S.kind + ' after ' + S.startup + ' random draws)' },
        xaxis: { title: { text: 'trials, in the order they finished' } },
        yaxis: { title: { text: M } }, showlegend: false, height: 380,
        shapes: [{ type: 'line', x0: S.startup + 0.5, x1: S.startup + 0.5, yref: 'paper', y0: 0,
          y1: 1, line: { dash: 'dash', width: 1, color: '#888' } }] });
  }

  // PBT (reports.jsonl): each member's metric at its pauses; exploits as markers where the
  // member that copied another decided it (hover: from which member and step); the best member
  // bold; its schedule (lineage) as a table.
  const pbtSection = document.getElementById('pbt');
  if (!D.pbt) {
    pbtSection.style.display = 'none';
  } else {
    const P = D.pbt;
    const traces = P.members.map((m, i) => ({ x: m.x, y: m.y, mode: 'lines+markers',
      type: 'scatter', name: 'member ' + i, line: { width: i === P.best ? 3 : 1 },
      opacity: i === P.best ? 1 : 0.6,
      hovertemplate: 'member ' + i + ' (' + m.id + ')<br>step %{x}<br>' + M + ' %{y}<extra></extra>' }));
    const ex = { x: [], y: [], text: [], mode: 'markers', type: 'scatter', name: 'exploit',
      marker: { symbol: 'x', size: 9, color: '#d62728' }, hovertemplate: '%{text}<extra></extra>' };
    P.exploits.forEach((e) => {
      const m = P.members[e.member];
      const k = m.x.lastIndexOf(e.step);
      ex.x.push(e.step);
      ex.y.push(k >= 0 ? m.y[k] : null);
      ex.text.push('member ' + e.member + ' copies member ' + e.donor + ' at step ' + e.from +
        (e.reason === 'failed' ? ' (after a failure)' : ''));
    });
    traces.push(ex);
    plot(document.getElementById('pbt-population'), traces, { title: { text: M + ' of ' +
      P.members.length + ' members, ' + P.exploits.length + ' exploits' },
      xaxis: { title: { text: 'step (resource)' } }, yaxis: { title: { text: M } }, height: 420,
      legend: { orientation: 'h', y: -0.25 } });
    const t = document.getElementById('pbt-schedule');
    const names = P.schedule.length ? Object.keys(P.schedule[0].params) : [];
    const head = ['from', 'to', 'trained by'].concat(names);
    const hr = el('tr');
    head.forEach((h) => hr.appendChild(el('th', {}, h)));
    t.appendChild(hr);
    P.schedule.forEach((s) => {
      const tr = el('tr');
      [String(s.from), s.to === null ? 'end' : String(s.to), 'member ' + s.member]
        .concat(names.map((n) => (typeof s.params[n] === 'number' ? num(s.params[n]) : String(s.params[n]))))
        .forEach((c) => tr.appendChild(el('td', {}, c)));
      t.appendChild(tr);
    });
  }

  // Early stopping (reports.jsonl): every trial's metric against the resource where the scheduler
  // heard it, the rungs as dashed lines; trials that trained to the end solid, the others faded.
  const es = document.getElementById('early-stopping');
  if (!D.early_stopping) {
    es.style.display = 'none';
  } else {
    const E = D.early_stopping;
    const traces = E.trials.map((t) => ({
      x: t.x, y: t.y, mode: 'lines+markers', type: 'scatter', name: t.id,
      opacity: t.status === 'ok' ? 1 : 0.25, line: { width: t.status === 'ok' ? 2.5 : 1 },
      hovertemplate: t.id + ' (' + t.status + ')<br>resource %{x}<br>' + M + ' %{y}<extra></extra>' }));
    const shapes = E.rungs.map((r) => ({ type: 'line', x0: r, x1: r, yref: 'paper', y0: 0, y1: 1,
      line: { dash: 'dash', width: 1, color: '#888' } }));
    plot(document.getElementById('rungs'), traces, { title: { text: M + ' at the rungs (' +
      E.trials.filter((t) => t.status === 'ok').length + ' of ' + E.trials.length +
      ' trials to the end)' }, xaxis: { title: { text: 'resource' } },
      yaxis: { title: { text: M } }, shapes: shapes, showlegend: false, height: 420 });
  }

  // Timeline (report/timeline.hpp): one row per rank, each trial a bar from its start to its
  // end (Plotly bars with a base), coloured by status; a promoted trial's pauses between rungs
  // dotted from one visit's end to the next's start; each run's start and end as lines.
  timeline();
  function timeline() {
    const T = D.timeline;
    const box = document.getElementById('timeline');
    if (!T || !T.segments) {
      empty(box, 'No timeline: ' + ((T && T.why_none) || 'no times') + '.');
      return;
    }
    const colours = { ok: '#2a7ab9', paused: '#9ecae1', stopped: '#aaaaaa', failed: '#d62728',
      timeout: '#ff7f0e' };
    const byStatus = {};
    T.segments.forEach((s) => { (byStatus[s.status] = byStatus[s.status] || []).push(s); });
    const rankName = (r) => 'rank ' + r;
    const traces = Object.keys(byStatus).map((st) => ({
      type: 'bar', orientation: 'h', name: st, marker: { color: colours[st] || '#8c564b',
        line: { color: '#fff', width: 1 } },
      base: byStatus[st].map((s) => s.start), x: byStatus[st].map((s) => s.end - s.start),
      y: byStatus[st].map((s) => rankName(s.rank)), text: byStatus[st].map((s) => s.hover),
      textposition: 'none', hovertemplate: '%{text}<extra></extra>' }));
    if (T.pauses.length) {
      const x = [], y = [];
      T.pauses.forEach((p) => { x.push(p.start, p.end, null); y.push(rankName(p.from_rank), rankName(p.to_rank), null); });
      traces.push({ type: 'scatter', mode: 'lines', name: 'paused between rungs', x: x, y: y,
        line: { dash: 'dot', width: 1.5, color: '#555' }, hoverinfo: 'skip' });
    }
    const shapes = [];
    T.runs.forEach((r) => [r.started, r.ended].forEach((t) => shapes.push({ type: 'line', x0: t,
      x1: t, yref: 'paper', y0: 0, y1: 1, line: { dash: 'dash', width: 1, color: '#888' } })));
    const ranks = Array.from(new Set(T.segments.map((s) => s.rank))).sort((a, b) => b - a);
    const pct = (v) => (v === null ? '-' : (100 * v).toFixed(1) + '%');
    plot(box, traces, { title: { text: 'utilization ' + pct(T.utilization) + ' (' +
      num(T.busy_s) + ' of ' + num(T.capacity_s) + ' rank-seconds busy, ' + T.runs.length +
      ' run' + (T.runs.length === 1 ? '' : 's') + ')' }, barmode: 'overlay', shapes: shapes,
      xaxis: { title: { text: 'seconds from ' + T.origin_utc + ' UTC' } },
      yaxis: { categoryorder: 'array', categoryarray: ranks.map(rankName) },
      height: Math.max(220, 90 + 36 * ranks.length), legend: { orientation: 'h', y: -0.3 } });
  }

  // Neural family: per-neuron metrics and readout masks of the best trial.
  const nr = document.getElementById('neurons');
  const mk = document.getElementById('masks');
  if (!D.neurons && !D.masks) {
    document.getElementById('neural').style.display = 'none';
  }
  if (D.neurons) {
    const groups = [['pearson', 'Pearson r'], ['ccnorm', 'CCnorm']];
    groups.forEach(([key, label]) => {
      const cols = Object.keys(D.neurons.columns).filter((c) => c.toLowerCase().includes(key));
      if (cols.length === 0) return;
      const traces = cols.map((c) => ({ x: D.neurons.columns[c].filter((v) => v !== null),
        type: 'histogram', name: c + ' (' + D.neurons.excluded[c] + ' NaN excluded)',
        opacity: 0.65, xbins: { size: 0.05 } }));
      plot(nr, traces, { title: { text: label + ' per neuron, trial ' + D.neurons.trial },
        barmode: 'overlay', showlegend: true, xaxis: { title: { text: label } }, yaxis: { title: { text: 'neurons' } },
        legend: { orientation: 'h', y: -0.25 } });
    });
  } else {
    empty(nr, 'No neurons.csv for the best trial.');
  }
  if (D.masks) {
    const m = D.masks;
    mk.parentNode.insertBefore(el('p', { class: 'meta' }, 'Readout spatial masks of trial ' +
      m.trial + ': ' + m.shown + ' of ' + m.n + ' neurons, ' + m.h + '×' + m.w + ' each.'), mk);
    m.values.forEach((z, i) => {
      plot(mk, [{ type: 'heatmap', z: z, colorscale: 'RdBu', zmid: 0, showscale: false,
        hovertemplate: 'row %{y}, col %{x}: %{z}<extra></extra>' }], {
        title: { text: 'neuron ' + i, x: 0.5, xanchor: 'center', font: { size: 11 } }, margin: { l: 4, r: 4, t: 22, b: 4 },
        height: 150, width: 140, xaxis: { visible: false }, yaxis: { visible: false, autorange: 'reversed', scaleanchor: 'x' },
      }, { displayModeBar: false, responsive: false });
    });
  } else if (D.neurons) {
    empty(mk, 'No readout_masks.json for the best trial.');
  }
  const sk = document.getElementById('skipped');
  D.skipped.forEach((s) => sk.appendChild(el('p', { class: 'meta' }, s)));

  // Sortable table of all trials: click a header to sort, again to reverse.
  const T = D.table;
  const tt = document.getElementById('trials');
  const head = el('tr');
  T.columns.forEach((c, i) => head.appendChild(el('th', T.numeric[i] ? { class: 'num' } : {}, c)));
  tt.appendChild(el('thead')).appendChild(head);
  const tbody = el('tbody');
  tt.appendChild(tbody);
  const statusCol = T.columns.indexOf('status');
  const idCol = T.columns.indexOf('trial_id');
  function fill(rows) {
    tbody.textContent = '';
    rows.forEach((r) => {
      const cls = [];
      if (statusCol >= 0) cls.push(r[statusCol]);
      if (idCol >= 0 && r[idCol] === T.best_id) cls.push('best');
      const tr = el('tr', { class: cls.join(' ') });
      r.forEach((c, i) => {
        // Metrics shown to 4 significant digits; the cell's tooltip has the value as written.
        const shown = T.metric[i] && T.numeric[i] && c !== '' ? num(Number(c)) : c;
        const td = el('td', { class: T.numeric[i] ? 'num' : (T.columns[i] === 'error' ? 'err' : '') }, shown);
        if (T.columns[i] === 'error' || shown !== c) td.title = c;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }
  let sortCol = -1, sortDir = 1;
  function key(v, numeric) {
    if (!numeric) return v;
    const x = Number(v);
    return v === '' || Number.isNaN(x) ? null : x;
  }
  head.childNodes.forEach((th, i) => th.addEventListener('click', () => {
    sortDir = sortCol === i ? -sortDir : (T.numeric[i] && T.columns[i] === M && D.maximize ? -1 : 1);
    sortCol = i;
    const rows = T.rows.slice().sort((a, b) => {
      const x = key(a[i], T.numeric[i]), y = key(b[i], T.numeric[i]);
      if (x === null || y === null) return (x === null) - (y === null);  // blanks/NaN last
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
    });
    head.childNodes.forEach((h, j) => { h.textContent = T.columns[j] + (j === i ? (sortDir > 0 ? ' ▲' : ' ▼') : ''); });
    fill(rows);
  }));
  fill(T.rows);
  document.body.setAttribute('data-ns-rendered', String(document.querySelectorAll('.main-svg').length));
})();
