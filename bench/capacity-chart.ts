// The capacity criteria, the verdict of one load-test run against them, and the capacity chart as
// a self-contained SVG: a row of panels per CPU placement (shared, pinned), each row with the
// overhead p95 (in the runtime; dashed: at the candidate), CPU per room (the runtime; dashed: the
// harness) and memory per session against concurrent sessions, one colour per isolation mode.
// Rows share their y scales, so the placements compare at a glance.

type Quantiles<K extends string> = Record<K, number>;

export interface LoadtestResult {
  rooms: number;
  isolation: string;
  pinned: boolean;
  overhead_ms: Quantiles<'p50' | 'p95' | 'p99'>;
  in_runtime_overhead_ms: Quantiles<'p50' | 'p95' | 'p99'>;
  ear_to_ear_ms: Quantiles<'p50' | 'p95' | 'p99'>;
  greeting_ms: Quantiles<'p50' | 'p95'>;
  mode_switch_ms: Quantiles<'p50' | 'p99'>;
  vad_lag_ms: Quantiles<'p95' | 'p99'>;
  runtime_main_loop_lag_ms: Quantiles<'p99' | 'max'>;
  harness_loop_delay_ms: Quantiles<'p99' | 'max'>;
  underruns: number;
  failed_sessions: number;
  cpu_pct_per_session: number;
  cpu_pct_per_room: Record<'runtime' | 'harness' | 'sfu' | 'redis', number>;
  cpu_pct_total: Record<'runtime' | 'harness' | 'sfu' | 'redis', number>;
  affinity: Record<'runtime' | 'harness' | 'sfu' | 'redis', string>;
  speech_renders_during_run: number;
  rss_mb_per_session: number;
  process_rss_mb: number;
}

/** What a step must meet, all at once, to be within capacity. */
export const CRITERIA = [
  { key: 'in_runtime_overhead_p95', short: 'overhead p95', label: 'overhead timed inside the runtime, p95', limit: 60, unit: 'ms', value: (r: LoadtestResult) => r.in_runtime_overhead_ms.p95 },
  { key: 'greeting_p95', short: 'greeting p95', label: 'job added to the greeting heard, p95', limit: 1_500, unit: 'ms', value: (r: LoadtestResult) => r.greeting_ms.p95 },
  { key: 'mode_switch_p99', short: 'switch p99', label: 'XADD to MODE_CHANGED, p99', limit: 50, unit: 'ms', value: (r: LoadtestResult) => r.mode_switch_ms.p99 },
  { key: 'main_loop_lag_p99', short: 'main-loop lag p99', label: "the runtime main thread's event-loop lag, p99", limit: 30, unit: 'ms', value: (r: LoadtestResult) => r.runtime_main_loop_lag_ms.p99 },
  { key: 'underruns', short: 'underruns', label: 'gaps over 300 ms inside a reply', limit: 0, unit: 'count', value: (r: LoadtestResult) => r.underruns },
  { key: 'failed_sessions', short: 'failed sessions', label: 'rooms whose script did not complete', limit: 0, unit: 'count', value: (r: LoadtestResult) => r.failed_sessions },
] as const;

export type Verdict = Record<string, { value: number | null; limit: number; passed: boolean }>;

/** Each criterion's value, limit and verdict (a figure that could not be measured fails). */
export function judge(result: LoadtestResult): Verdict {
  return Object.fromEntries(
    CRITERIA.map((c) => {
      const value = c.value(result);
      const finite = typeof value === 'number' && Number.isFinite(value);
      return [c.key, { value: finite ? value : null, limit: c.limit, passed: finite && value <= c.limit }];
    }),
  );
}

export interface CapacityRun {
  isolation: string;
  /** `shared`: every process on every core; `pinned`: the runtime on its own core(s). */
  variant: string;
  rooms: number;
  passed: boolean;
  /** The criteria this step missed (`run_finished` when it could not finish). */
  failed_criteria: string[];
  verdict?: Verdict;
  /** Absent when the run could not finish (`error` says why). */
  result?: LoadtestResult;
  error?: string;
}

export interface CapacitySearch {
  isolation: string;
  variant: string;
  /** The largest step passed before the first failing one. */
  capacity: number;
  first_failure: { rooms: number; criteria: string[] } | null;
  stopped: boolean;
}

const COLORS: Record<string, string> = { thread: '#1f77b4', process: '#d62728' };
const PANEL = { width: 400, height: 280, left: 60, top: 40, right: 20, bottom: 45 };
const GAP = 20;

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

interface PanelSpec {
  title: string;
  yLabel: string;
  series: Series[];
  threshold?: number;
  /** Past capacity the figures run to seconds; drawn at this ceiling, the criterion stays readable. */
  yCap?: number;
}

/** One panel at (x0, y0): `runs` drawn, on axes scaled to fit `scaleRuns` (every row's). */
function panel(x0: number, y0: number, spec: PanelSpec, runs: MeasuredRun[], scaleRuns: MeasuredRun[]): string {
  const { width, height, left, top, right, bottom } = PANEL;
  const { title, yLabel, series, threshold, yCap = Infinity } = spec;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xMax = Math.max(1, ...scaleRuns.map((r) => r.rooms));
  const finite = series.flatMap((line) => scaleRuns.map(line.value)).filter(Number.isFinite);
  const yMax = Math.min(yCap, niceMax(Math.max(threshold ?? 0, ...finite) * 1.05));
  const round = (v: number) => Math.round(v * 10) / 10;
  const px = (rooms: number) => round(x0 + left + (rooms / xMax) * plotW);
  const py = (v: number) => round(y0 + top + plotH - (Math.min(v, yMax) / yMax) * plotH);
  const bottomY = y0 + top + plotH;
  const parts: string[] = [
    `<text x="${x0 + width / 2}" y="${y0 + 20}" text-anchor="middle" font-size="12" font-weight="bold">${escape(title)}</text>`,
    `<line x1="${x0 + left}" y1="${bottomY}" x2="${x0 + left + plotW}" y2="${bottomY}" stroke="#333"/>`,
    `<line x1="${x0 + left}" y1="${y0 + top}" x2="${x0 + left}" y2="${bottomY}" stroke="#333"/>`,
    `<text x="${x0 + left + plotW / 2}" y="${y0 + height - 8}" text-anchor="middle" font-size="12">concurrent sessions</text>`,
    `<text x="${x0 + 14}" y="${y0 + top + plotH / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${y0 + top + plotH / 2})">${escape(yLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(
      `<line x1="${x0 + left - 4}" y1="${py(v)}" x2="${x0 + left + plotW}" y2="${py(v)}" stroke="#ddd"/>`,
      `<text x="${x0 + left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="10">${Math.round(v * 10) / 10}</text>`,
    );
  }
  for (const rooms of [...new Set(scaleRuns.map((r) => r.rooms))].sort((a, b) => a - b)) {
    parts.push(`<text x="${px(rooms)}" y="${bottomY + 15}" text-anchor="middle" font-size="10">${rooms}</text>`);
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
      if (points.length === 0) continue;
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

const VARIANT_TITLES: Record<string, string> = {
  shared: 'shared: runtime, harness, SFU and Redis on every core',
  pinned: 'pinned: the runtime alone on its core(s); harness, SFU, Redis on the others',
};

export function capacityChart(allRuns: CapacityRun[], searches: CapacitySearch[]): string {
  const runs = allRuns.filter((run): run is MeasuredRun => run.result !== undefined);
  const variants = [...new Set(searches.map((s) => s.variant))];
  const overheadLimit = CRITERIA.find((c) => c.key === 'in_runtime_overhead_p95')!.limit;
  const panels: PanelSpec[] = [
    {
      title: 'Overhead p95 (ms) in runtime; dashed: at candidate',
      yLabel: 'ms',
      series: [{ value: (r) => r.result.in_runtime_overhead_ms.p95 }, { value: (r) => r.result.overhead_ms.p95, dashed: true }],
      threshold: overheadLimit,
      yCap: 1_000,
    },
    {
      title: 'CPU per room (% of a core): runtime; dashed: harness',
      yLabel: '% of one core',
      series: [{ value: (r) => r.result.cpu_pct_per_room?.runtime ?? r.result.cpu_pct_per_session }, { value: (r) => r.result.cpu_pct_per_room?.harness, dashed: true }],
    },
    { title: 'Memory per session (MB RSS)', yLabel: 'MB', series: [{ value: (r) => r.result.rss_mb_per_session }] },
  ];
  const rowHeight = PANEL.height + 30;
  const width = panels.length * (PANEL.width + GAP);
  const legendY = variants.length * rowHeight + 10;
  const height = legendY + 20 * (searches.length + 2);
  const body: string[] = [];
  variants.forEach((variant, row) => {
    const y0 = row * rowHeight;
    body.push(`<text x="10" y="${y0 + 14}" font-size="13" font-style="italic" fill="#333">${escape(VARIANT_TITLES[variant] ?? variant)}</text>`);
    panels.forEach((spec, col) => {
      body.push(panel(col * (PANEL.width + GAP), y0 + 20, spec, runs.filter((r) => r.variant === variant), runs));
    });
  });
  searches.forEach((s, i) => {
    const y = legendY + 20 * i;
    const failure = s.first_failure ? `; first failed at ${s.first_failure.rooms} on ${s.first_failure.criteria.join(', ')}` : '';
    body.push(
      `<rect x="20" y="${y + 6}" width="14" height="4" fill="${COLORS[s.isolation] ?? '#2ca02c'}"/>`,
      `<text x="40" y="${y + 12}" font-size="12">${escape(`${s.isolation} isolation, ${s.variant}: capacity ${s.capacity} session(s)${failure}`)}</text>`,
    );
  });
  body.push(
    `<text x="20" y="${legendY + 20 * searches.length + 16}" font-size="10" fill="#666">filled: within every criterion; hollow: not; overheads over 1000 ms drawn at the top; rows share their y scales</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
