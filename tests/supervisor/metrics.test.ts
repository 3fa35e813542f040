// Metric labels take their known values plus `other`: names and commands from input (a storm of
// random job names, a 1 MB command) can never add series.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RuntimeMetrics } from '../../supervisor/metrics.ts';

const seed = Number(process.env.FAULT_SEED ?? 1);

async function series(metrics: RuntimeMetrics, name: string): Promise<{ labels: Record<string, unknown>; value: number }[]> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => !('metricName' in v) || v.metricName === `${name}_count`) as never;
}

describe('metric labels are bounded', () => {
  it('counts unknown job names as `other`, known ones by name', async () => {
    const metrics = new RuntimeMetrics();
    for (let i = 0; i < 500; i++) metrics.jobs.inc({ name: `JOB_${i}\u0000${'z'.repeat(i)}`, outcome: 'invalid' });
    metrics.jobs.inc({ name: 'START_SESSION', outcome: 'completed' });
    metrics.jobs.inc({ name: 'constructor', outcome: 'invalid' });
    const values = await series(metrics, 'interviewer_jobs_total');
    assert.deepEqual(
      values.map((v) => [v.labels.name, v.labels.outcome, v.value]).sort(),
      [['START_SESSION', 'completed', 1], ['other', 'invalid', 501]],
    );
  });

  it('counts unknown commands as `other`', async () => {
    const metrics = new RuntimeMetrics();
    for (const command of ['UPDATE_CONFIG', '__proto__', 'toString', 'x'.repeat(1024 * 1024)]) metrics.commandApplySeconds.observe({ command }, 0.01);
    const values = await series(metrics, 'interviewer_command_apply_seconds');
    assert.deepEqual(values.map((v) => [v.labels.command, v.value]).sort(), [['UPDATE_CONFIG', 1], ['other', 3]]);
  });

  it('holds for any names: at most the known values plus `other`, no control character in the exposition', async () => {
    const metrics = new RuntimeMetrics();
    const names = fc.oneof(fc.constantFrom('START_SESSION', 'STOP_SESSION', 'hasOwnProperty', ''), fc.string({ unit: 'binary', maxLength: 300 }));
    fc.assert(
      fc.property(fc.array(names, { maxLength: 50 }), (batch) => {
        for (const name of batch) {
          metrics.jobs.inc({ name, outcome: 'invalid' });
          metrics.commandApplySeconds.observe({ command: name }, 0.001);
        }
      }),
      { seed, numRuns: 200 },
    );
    assert.ok((await series(metrics, 'interviewer_jobs_total')).length <= 3, 'job name series beyond START_SESSION, STOP_SESSION, other');
    assert.equal((await series(metrics, 'interviewer_command_apply_seconds')).length, 1, 'command series beyond other');
    const exposition = await metrics.registry.metrics();
    assert.ok(![...exposition].some((c) => c !== '\n' && /\p{Cc}/u.test(c)), 'a control character reached /metrics');
  });
});
