// Memory and CPU of a process and all its descendants (a runtime with SESSION_ISOLATION=process
// keeps its sessions in child processes), read from /proc.
import { readFileSync } from 'node:fs';
import { descendants } from '../testbed/cpu-affinity.ts';

const CLOCK_TICKS_PER_S = 100;

function stat(pid: number): { rssMb: number; cpuS: number } {
  try {
    const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime, stime, and cutime, cstime: the CPU of children that already exited and were reaped.
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { rssMb: rssKb / 1024, cpuS: ticks / CLOCK_TICKS_PER_S };
  } catch {
    return { rssMb: 0, cpuS: 0 }; // exited between listing and reading
  }
}

/** RSS (MB, summed) and CPU seconds used so far by `pid` and every process under it. */
export function processTree(pid: number): { rssMb: number; cpuS: number; processes: number } {
  const pids = [pid, ...descendants(pid)];
  const stats = pids.map(stat);
  return {
    rssMb: stats.reduce((sum, s) => sum + s.rssMb, 0),
    cpuS: stats.reduce((sum, s) => sum + s.cpuS, 0),
    processes: pids.length,
  };
}

/**
 * CPU seconds used so far by each named process tree in `parts` (e.g. the runtime, the SFU,
 * Redis), and as `harness` by the tree of `self` (this process, by default) less those parts: the
 * load tester's own candidates, fakes and helpers, and any child of it that already exited.
 */
export function cpuByPart<K extends string>(parts: Record<K, number>, self = process.pid): Record<K | 'harness', number> {
  const out = {} as Record<K | 'harness', number>;
  let partsCpuS = 0;
  for (const [name, pid] of Object.entries(parts) as [K, number][]) {
    out[name] = processTree(pid).cpuS;
    partsCpuS += out[name];
  }
  out.harness = processTree(self).cpuS - partsCpuS;
  return out;
}
