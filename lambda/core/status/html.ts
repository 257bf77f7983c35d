/**
 * Renders the status model as one self-contained HTML page: every style, script and datum inlined,
 * and a Content-Security-Policy that lets the page load nothing from anywhere. The current status
 * (findings, alerts, last runs, disks, backups, timeline) is plain HTML, readable without JavaScript;
 * the charts are drawn by the inlined charting library (uPlot) from the data embedded as JSON.
 */
import { formatBytes } from '../format';
import type { Chart, StatusModel } from './model';

export interface StatusPageAssets {
  /** The charting library's browser build (uPlot's IIFE bundle, defines `uPlot`). */
  readonly chartJs: string;
  readonly chartCss: string;
}

export interface StatusPageOptions {
  /** Reload the page every N seconds (the `--serve` live view). */
  readonly refreshSeconds?: number;
}

const ICON = { critical: '✗', warning: '!', ok: '✓' } as const;

/** Series colours; each differs from the axis and grid greys, so a test can find the drawn lines. */
export const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function time(iso: string | undefined): string {
  if (!iso) return '–';
  return `<time datetime="${esc(iso)}">${esc(iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'))}</time>`;
}

function badge(severity: keyof typeof ICON): string {
  return `<span class="sev ${severity}" title="${severity}">${ICON[severity]} ${severity}</span>`;
}

function table(headers: readonly string[], rows: readonly string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function pctBar(pct: number | null): string {
  if (pct === null) return 'unknown';
  const cls = pct >= 90 ? 'critical' : pct >= 80 ? 'warning' : 'ok';
  return `<span class="bar"><span class="fill ${cls}" style="width:${Math.max(0, Math.min(100, pct))}%"></span></span> ${esc(pct)} %`;
}

function formatValue(value: number, unit: string): string {
  return unit === 'bytes' ? formatBytes(value) : `${Math.round(value * 10) / 10}${unit === '%' ? ' %' : unit === '°C' ? ' °C' : ''}`;
}

/** What a chart shows, in words: the no-JavaScript view and the figure's description. */
function chartSummary(chart: Chart): string {
  const parts = chart.series.map((s) => {
    const values = s.y.filter((v): v is number => v !== null);
    if (values.length === 0) return `${s.label}: no data`;
    const last = values[values.length - 1];
    return `${s.label}: last ${formatValue(last, chart.unit)}, min ${formatValue(Math.min(...values), chart.unit)}, max ${formatValue(Math.max(...values), chart.unit)}`;
  });
  return parts.length ? `${parts.join('; ')} (${chart.x.length} points)` : 'no data in this window';
}

function figure(chart: Chart): string {
  return `<figure class="chart" id="chart-${esc(chart.id)}" data-chart="${esc(chart.id)}" data-points="${chart.x.length}">
<figcaption>${esc(chart.title)}${chart.note ? ` <small>(${esc(chart.note)})</small>` : ''}</figcaption>
<div class="plot"></div>
<p class="summary">${esc(chartSummary(chart))}</p>
</figure>`;
}

const STYLE = `
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;color:#1b1f24;background:#f6f7f9}
body{margin:0 auto;max-width:1280px;padding:16px 24px}
header{display:flex;align-items:baseline;gap:16px;flex-wrap:wrap;border-bottom:2px solid #d0d7de;margin-bottom:12px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:20px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:8px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#eef1f4;font-weight:600}
.sev{font-weight:600;white-space:nowrap}.sev.critical{color:#b42318}.sev.warning{color:#9a6700}.sev.ok{color:#1a7f37}
.overall{font-size:16px;padding:2px 10px;border-radius:12px;background:#fff;border:1px solid #d0d7de}
.empty{color:#57606a;font-style:italic}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:12px}
figure.chart{margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px;overflow:hidden;min-width:0}
figcaption{font-weight:600;margin-bottom:4px}figcaption small{font-weight:400;color:#57606a}
.summary{color:#57606a;font-size:12px;margin:4px 0 0}
.bar{display:inline-block;width:120px;height:10px;background:#eaeef2;border-radius:5px;overflow:hidden;vertical-align:middle}
.fill{display:block;height:100%}.fill.ok{background:#2da44e}.fill.warning{background:#d4a72c}.fill.critical{background:#cf222e}
footer{margin-top:24px;color:#57606a;font-size:12px}
`;

/** Builds one uPlot per figure from the embedded data; marks each figure with the points it drew. */
const CHART_SCRIPT = `
(function () {
  var charts = JSON.parse(document.getElementById('gpu-maint-charts').textContent);
  var colors = JSON.parse(document.getElementById('gpu-maint-colors').textContent);
  function fmt(unit, v) {
    if (v == null) return '';
    if (unit === 'bytes') {
      var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
      while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
      return (Math.round(v * 10) / 10) + ' ' + u[i];
    }
    return (Math.round(v * 10) / 10) + (unit === '%' ? ' %' : unit === '°C' ? ' °C' : '');
  }
  charts.forEach(function (c) {
    var fig = document.getElementById('chart-' + c.id);
    var target = fig.querySelector('.plot');
    if (c.x.length === 0) { target.textContent = 'no data in this window'; fig.dataset.rendered = '0'; return; }
    // The figure's inner width (its padding is 8 px a side), so a chart never overflows its grid cell.
    var width = Math.max(280, Math.floor(fig.getBoundingClientRect().width) - 18);
    var bars = c.bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 24] }) : null;
    var series = [{}].concat(c.series.map(function (s, i) {
      var color = colors[i % colors.length];
      return {
        label: s.label, stroke: color, width: 2, spanGaps: true,
        fill: bars ? color + '99' : undefined, paths: bars || undefined,
        points: { show: c.x.length < 60, size: 5, fill: color, stroke: color },
        value: function (u, v) { return fmt(c.unit, v); }
      };
    }));
    new uPlot({
      width: width, height: 220, series: series,
      scales: { x: { time: true } },
      axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return fmt(c.unit, v); }); }, size: 70 }]
    }, [c.x].concat(c.series.map(function (s) { return s.y; })), target);
    fig.dataset.rendered = String(c.x.length);
  });
})();
`;

export function renderStatusPage(model: StatusModel, assets: StatusPageAssets, options: StatusPageOptions = {}): string {
  const findingRows = model.findings.map((f) => [badge(f.severity), esc(f.check), esc(f.message), esc(f.task), esc(f.host), time(f.at)]);
  const alertRows = model.alerts.map((a) => [
    badge(a.severity),
    esc(a.check + (a.gpu !== undefined ? ` (GPU ${a.gpu})` : '')),
    esc(a.message),
    esc(`${a.status}${a.flapping ? ', flapping' : ''}${a.silenced ? ', silenced' : ''}`),
    time(a.since),
    time(a.lastNotifiedAt),
  ]);
  const runRows = model.lastRuns.map((r) => [
    esc(r.task),
    esc(r.host),
    time(r.at),
    esc(r.status),
    `${r.critical ? `<span class="sev critical">${r.critical} critical</span> ` : ''}${r.warning ? `<span class="sev warning">${r.warning} warning</span> ` : ''}${esc(`${r.ok} ok`)}`,
  ]);
  const diskRows = model.disks.map((d) => [
    esc(d.mount),
    esc(d.filesystem),
    pctBar(d.usedPct),
    d.inodesUsedPct === null ? 'unknown' : `${esc(d.inodesUsedPct)} %`,
    esc(formatBytes(d.availBytes)),
    esc(formatBytes(d.sizeBytes)),
  ]);
  const backupRows = model.backups.map((b) => [
    esc(b.host ?? b.hostKey),
    esc(b.id),
    esc(b.ageHours < 48 ? `${b.ageHours} h` : `${Math.round((b.ageHours / 24) * 10) / 10} d`),
    b.readable ? esc(formatBytes(b.bytes ?? null)) : `<span class="sev critical">unreadable</span> ${esc(b.error ?? '')}`,
    esc(b.sourceBytes !== undefined ? formatBytes(b.sourceBytes) : '–'),
    esc(b.units ?? '–'),
    esc(b.files ?? '–'),
  ]);
  const timelineRows = model.timeline.map((t) => [time(t.at), badge(t.severity), esc(t.task), esc(t.text)]);
  const chart = (id: string) => {
    const c = model.charts.find((x) => x.id === id);
    return c ? figure(c) : '';
  };
  const cleanup = model.cleanup;
  const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.refreshSeconds ? `<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
<title>gpu-maint status: ${esc(model.worst)} · ${esc(model.hosts.join(', ') || 'no results yet')}</title>
<style>${assets.chartCss}</style>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>gpu-maint status</h1>
<span class="overall">${badge(model.worst)}</span>
<span>${esc(model.hosts.join(', ') || 'no results yet')}</span>
<span>generated ${time(model.generatedAt)}, charts over the last ${esc(model.days)} days</span>
</header>
<main>
<section id="now">
<h2>Findings now (latest run of each task)</h2>
${table(['severity', 'check', 'finding', 'task', 'host', 'run at'], findingRows, 'No warning or critical findings in the latest runs.')}
<h2>Active alerts</h2>
${table(['severity', 'check', 'alert', 'state', 'since', 'last notified'], alertRows, 'No active alerts.')}
<h2>Last runs</h2>
${table(['task', 'host', 'at', 'status', 'findings'], runRows, 'No task has run yet: gpu-maint run all')}
</section>
<section id="gpus">
<h2>GPUs</h2>
<div class="grid">${chart('gpu-temperature')}${chart('gpu-memory')}${chart('gpu-utilization')}</div>
</section>
<section id="disks">
<h2>Disks${model.disksAt ? ` <small>(health-check at ${time(model.disksAt)})</small>` : ''}</h2>
${table(['mount', 'filesystem', 'used', 'inodes used', 'available', 'size'], diskRows, 'No health-check result yet.')}
<div class="grid">${chart('disk-used')}</div>
</section>
<section id="backups">
<h2>Backups</h2>
${table(['host', 'snapshot', 'age', 'stored', 'source size', 'units', 'files'], backupRows, 'No backup snapshots in the destination.')}
<div class="grid">${chart('backup-bytes')}</div>
</section>
<section id="cleanup">
<h2>Cleanup</h2>
${
  cleanup
    ? `<p>Latest run ${time(cleanup.at)}: ${
        cleanup.dryRun
          ? `dry run, would free ${esc(formatBytes(cleanup.bytesReclaimable))}`
          : `freed ${esc(formatBytes(cleanup.bytesFreed))}`
      }.</p>`
    : '<p class="empty">No cleanup result yet.</p>'
}
<div class="grid">${chart('cleanup-bytes')}</div>
</section>
<section id="timeline">
<h2>Alert timeline (changes in findings per task, newest first)</h2>
<div class="grid">${chart('findings')}</div>
${table(['at', 'severity', 'task', 'change'], timelineRows, 'No findings in this window.')}
</section>
</main>
<footer>
${model.problems.length ? `<p><strong>Could not read:</strong> ${model.problems.map(esc).join('; ')}</p>` : ''}
<p>Written by <code>gpu-maint report</code> from the local state directory. Self-contained: it loads nothing from the network.</p>
</footer>
<script type="application/json" id="gpu-maint-charts">${scriptJson(model.charts)}</script>
<script type="application/json" id="gpu-maint-colors">${scriptJson(SERIES_COLORS)}</script>
<script>${assets.chartJs.replace(/<\/script/gi, '<\\/script')}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`;
}
