'use strict';
/**
 * The outputs: one markdown report (a table per scenario, the machine, notes), the raw samples as
 * JSON, and one SVG chart (throughput and master CPU per contender), built as plain strings.
 */
const { summary } = require('./stats');

function markdownReport({ machineLine, nodeLine, mode, elapsedS, sections, command }) {
  const out = [
    `# sockrun benchmark (${mode}) on ${nodeLine}`,
    '',
    `Machine: ${machineLine}.`,
    '',
    `Command: \`${command}\` — ${elapsedS.toFixed(0)} s. All traffic on loopback; contenders measured in the same run, interleaved.`,
    '',
  ];
  const goals = sections.flatMap((s) => s.goals || []);
  if (goals.length) {
    out.push('## Goals (issue 16), against their anchors in this run', '',
      '| goal | sockrun | anchor | target | measured | met |', '|---|---:|---:|---|---:|---|');
    for (const g of goals) out.push(`| ${g.goal} | ${g.sockrun} | ${g.anchor} | ${g.target} | ${g.value} | ${g.met === undefined ? '–' : g.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  for (const s of sections) {
    out.push(`## ${s.title}`, '');
    if (s.error) {
      out.push(`Not measured: ${s.error}`, '');
      continue;
    }
    for (const t of s.tables) {
      if (s.tables.length > 1) out.push(`### ${t.title}`, '');
      out.push(t.md, '');
    }
    for (const n of s.notes || []) out.push(`* ${n}`);
    if ((s.notes || []).length) out.push('');
  }
  return out.join('\n');
}

const COLORS = {
  single: '#9e9e9e', 'cluster-rr': '#e6862e', 'cluster-none': '#c9b037', pm2: '#3e7cc0', sockrun: '#2e9e5b',
};

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Grouped bars. panels: [{title, unit, groups: [{label, bars: [{key, value, min, max}]}]}].
 * Whiskers show min–max over reps.
 */
function svgChart({ title, subtitle, panels, legend }) {
  const W = 980;
  const panelH = 300;
  const top = 70;
  const left = 80;
  const right = 20;
  const H = top + panels.length * (panelH + 40) + 20;
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="${W / 2}" y="44" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  // Legend
  let lx = left;
  for (const key of legend) {
    parts.push(`<rect x="${lx}" y="54" width="12" height="12" fill="${COLORS[key] || '#777'}"/>`);
    parts.push(`<text x="${lx + 16}" y="64">${esc(key)}</text>`);
    lx += 34 + key.length * 7.5;
  }
  panels.forEach((p, pi) => {
    const y0 = top + pi * (panelH + 40) + 20;
    const plotH = panelH - 60;
    const plotW = W - left - right;
    const maxV = Math.max(1e-9, ...p.groups.flatMap((g) => g.bars.map((b) => (Number.isFinite(b.max) ? b.max : b.value))).filter(Number.isFinite));
    const niceMax = niceCeil(maxV);
    parts.push(`<text x="${left}" y="${y0}" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
    const base = y0 + 14 + plotH;
    // Grid and axis labels
    for (let i = 0; i <= 4; i++) {
      const v = (niceMax * i) / 4;
      const y = base - (plotH * i) / 4;
      parts.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" stroke="#e3e3e3"/>`);
      parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end" fill="#444">${esc(fmtAxis(v))}</text>`);
    }
    parts.push(`<text x="16" y="${base - plotH / 2}" transform="rotate(-90 16 ${base - plotH / 2})" text-anchor="middle" fill="#444">${esc(p.unit)}</text>`);
    const gw = plotW / p.groups.length;
    p.groups.forEach((g, gi) => {
      const n = g.bars.length;
      const bw = Math.min(34, (gw - 20) / Math.max(1, n));
      const gx = left + gi * gw + (gw - bw * n) / 2;
      g.bars.forEach((b, bi) => {
        const x = gx + bi * bw;
        const v = Number.isFinite(b.value) ? b.value : 0;
        const h = (plotH * v) / niceMax;
        parts.push(`<rect x="${x.toFixed(1)}" y="${(base - h).toFixed(1)}" width="${(bw - 3).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[b.key] || '#777'}"><title>${esc(`${g.label} ${b.key}: ${fmtAxis(v)} ${p.unit}`)}</title></rect>`);
        if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.max > b.min) {
          const cx = x + (bw - 3) / 2;
          const y1 = base - (plotH * b.min) / niceMax;
          const y2 = base - (plotH * b.max) / niceMax;
          parts.push(`<line x1="${cx.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#222"/>`);
        }
        parts.push(`<text x="${(x + (bw - 3) / 2).toFixed(1)}" y="${(base - h - 4).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333">${esc(fmtShort(v))}</text>`);
      });
      g.label.split('\n').forEach((line, li) => {
        parts.push(`<text x="${(left + gi * gw + gw / 2).toFixed(1)}" y="${base + 16 + li * 14}" text-anchor="middle">${esc(line)}</text>`);
      });
    });
    parts.push(`<line x1="${left}" y1="${base}" x2="${W - right}" y2="${base}" stroke="#333"/>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** The top of the axis: 4 gridline steps of a round size (1, 1.2, 1.5, 2, 2.5, … × 10^k). */
function niceCeil(v) {
  const raw = v / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= raw) return 4 * m * p;
  return 40 * p;
}

function trim(x, digits) {
  return String(Number(x.toFixed(digits)));
}

function fmtAxis(v) {
  if (v >= 1000) return `${trim(v / 1000, 1)}k`;
  if (v >= 10) return trim(v, 0);
  return trim(v, 2);
}

function fmtShort(v) {
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (v >= 10) return v.toFixed(0);
  return v.toFixed(2);
}

/**
 * The chart from throughput samples: req/s, and the master's CPU as a share of one core during
 * the run, by worker count and traffic shape. The single process has no master: it is left out
 * of the CPU panel (its CPU is the server's).
 */
function throughputChart(samples, order, subtitle) {
  const workerOrder = ['1', '2', 'auto'];
  const ws = [...new Set(samples.map((s) => s.workers))].sort((a, b) => workerOrder.indexOf(a) - workerOrder.indexOf(b));
  const groupsFor = (f, contenders) => {
    const groups = [];
    for (const w of ws) {
      for (const shape of ['keepalive', 'close']) {
        const bars = [];
        for (const c of contenders) {
          const xs = samples.filter((s) => s.workers === w && s.shape === shape && s.contender === c).map(f);
          if (!xs.length) continue;
          const sm = summary(xs);
          bars.push({ key: c, value: sm.median, min: sm.min, max: sm.max });
        }
        if (bars.length) groups.push({ label: `${w === 'auto' ? 'auto' : w} worker${w === '1' ? '' : 's'}\n${shape === 'close' ? 'new conn/request' : 'keep-alive'}`, bars });
      }
    }
    return groups;
  };
  const legend = order.filter((c) => samples.some((s) => s.contender === c));
  return svgChart({
    title: 'hello, wrk on loopback: throughput and master CPU',
    subtitle,
    legend,
    panels: [
      { title: 'Throughput (median req/s; whiskers: min–max over reps)', unit: 'req/s', groups: groupsFor((s) => s.rps, order) },
      {
        title: 'CPU of the master / cluster primary / PM2 God process during the run (% of one core)',
        unit: '% of one core',
        groups: groupsFor((s) => (100 * s.masterCpuS) / (s.wrk.duration_us / 1e6), order.filter((c) => c !== 'single')),
      },
    ],
  });
}

module.exports = { markdownReport, svgChart, throughputChart };
