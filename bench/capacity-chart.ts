// The capacity chart as a self-contained SVG: overhead p95 (in the runtime, and at the candidate)
// and memory per session against concurrent sessions, one colour per isolation mode, with the
// capacity criterion drawn in.

export interface LoadtestResult {
  rooms: number;
  isolation: string;
  overhead_ms: { p50: number; p95: number; p99: number };
  in_runtime_overhead_ms: { p50: number; p95: number; p99: number };
  ear_to_ear_ms: { p50: number; p95: number; p99: number };
  greeting_ms: { p50: number; p95: number };
  mode_switch_ms: { p50: number; p99: number };
  vad_lag_ms: { p95: number; p99: number };
  underruns: number;
  failed_sessions: number;
  cpu_pct_per_session: number;
  rss_mb_per_session: number;
  process_rss_mb: number;
}

export interface CapacityRun {
  isolation: string;
  rooms: number;
  passed: boolean;
  /** Absent when the run could not finish (`error` says why). */
  result?: LoadtestResult;
  error?: string;
}

const COLORS: Record<string, string> = { thread: '#1f77b4', process: '#d62728' };
const PANEL = { width: 420, height: 300, left: 60, top: 40, right: 20, bottom: 50 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= value)!;
}

type MeasuredRun = CapacityRun & { result: LoadtestResult };

interface Series {
  value: (run: MeasuredRun) => number;
  dashed?: boolean;
}

/** Past capacity the figures run to seconds; drawn at this ceiling (`yCap`), the criterion stays readable. */
function panel(x0: number, title: string, yLabel: string, runs: MeasuredRun[], series: Series[], threshold?: number, yCap = Infinity): string {
  const { width, height, left, top, right, bottom } = PANEL;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xMax = Math.max(1, ...runs.map((r) => r.rooms));
  const finite = series.flatMap((line) => runs.map(line.value)).filter(Number.isFinite);
  const yMax = Math.min(yCap, niceMax(Math.max(threshold ?? 0, ...finite) * 1.05));
  const round = (v: number) => Math.round(v * 10) / 10;
  const px = (rooms: number) => round(x0 + left + (rooms / xMax) * plotW);
  const py = (v: number) => round(top + plotH - (Math.min(v, yMax) / yMax) * plotH);
  const parts: string[] = [
    `<text x="${x0 + width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<line x1="${x0 + left}" y1="${top + plotH}" x2="${x0 + left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${x0 + left}" y1="${top}" x2="${x0 + left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${x0 + left + plotW / 2}" y="${height - 10}" text-anchor="middle" font-size="12">concurrent sessions</text>`,
    `<text x="${x0 + 14}" y="${top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${top + plotH / 2})">${escape(yLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(
      `<line x1="${x0 + left - 4}" y1="${py(v)}" x2="${x0 + left + plotW}" y2="${py(v)}" stroke="#ddd"/>`,
      `<text x="${x0 + left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="10">${Math.round(v * 10) / 10}</text>`,
    );
  }
  for (const rooms of [...new Set(runs.map((r) => r.rooms))].sort((a, b) => a - b)) {
    parts.push(`<text x="${px(rooms)}" y="${top + plotH + 15}" text-anchor="middle" font-size="10">${rooms}</text>`);
  }
  if (threshold !== undefined) {
    parts.push(
      `<line x1="${x0 + left}" y1="${py(threshold)}" x2="${x0 + left + plotW}" y2="${py(threshold)}" stroke="#888" stroke-dasharray="6 4"/>`,
      `<text x="${x0 + left + plotW - 4}" y="${py(threshold) - 4}" text-anchor="end" font-size="10" fill="#555">criterion ${threshold}</text>`,
    );
  }
  for (const mode of [...new Set(runs.map((r) => r.isolation))]) {
    const color = COLORS[mode] ?? '#2ca02c';
    for (const { value, dashed } of series) {
      const points = runs.filter((r) => r.isolation === mode && Number.isFinite(value(r))).sort((a, b) => a.rooms - b.rooms);
      const dash = dashed ? ' stroke-dasharray="3 3"' : '';
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${points.map((r) => `${px(r.rooms)},${py(value(r))}`).join(' ')}"/>`);
      for (const r of points) {
        // Hollow marks: the run missed the capacity criteria.
        parts.push(`<circle cx="${px(r.rooms)}" cy="${py(value(r))}" r="4" stroke="${color}" stroke-width="2" fill="${r.passed ? color : 'white'}"/>`);
      }
    }
  }
  return parts.join('\n');
}

export function capacityChart(allRuns: CapacityRun[], capacity: Record<string, number>): string {
  const runs = allRuns.filter((run): run is CapacityRun & { result: LoadtestResult } => run.result !== undefined);
  const width = PANEL.width * 2 + 20;
  const height = PANEL.height + 40;
  const legend = Object.entries(capacity)
    .map(([mode, n], i) => {
      const x = 80 + i * 300;
      return (
        `<rect x="${x}" y="${PANEL.height + 15}" width="14" height="4" fill="${COLORS[mode] ?? '#2ca02c'}"/>` +
        `<text x="${x + 20}" y="${PANEL.height + 21}" font-size="12">${mode} isolation: capacity ${n} session(s)</text>`
      );
    })
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(
      0,
      'Overhead p95 (ms): in the runtime; dashed: at the candidate',
      'ms',
      runs,
      [{ value: (r) => r.result.in_runtime_overhead_ms.p95 }, { value: (r) => r.result.overhead_ms.p95, dashed: true }],
      100,
      1_000,
    ),
    panel(PANEL.width + 20, 'Memory per session (MB RSS)', 'MB', runs, [{ value: (r) => r.result.rss_mb_per_session }]),
    legend,
    `<text x="${width - 10}" y="${height - 6}" text-anchor="end" font-size="10" fill="#666">filled: within criteria; hollow: not; overheads over 1000 ms drawn at the top</text>`,
    '</svg>',
    '',
  ].join('\n');
}
