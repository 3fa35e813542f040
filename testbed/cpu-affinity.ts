// CPU affinity for the benchmarks: which cores a process (every one of its threads) may run on,
// set and read back with util-linux's `taskset`. A process started through `taskset -c` is pinned
// before its first instruction, so every thread and child process it creates inherits the mask.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Parses a CPU list as taskset and /proc print it ("0-2,5") into sorted CPU numbers. */
export function parseCpuList(list: string): number[] {
  const cpus = new Set<number>();
  for (const part of list.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new Error(`not a CPU list: "${list}"`);
    const from = Number(match[1]);
    const to = Number(match[2] ?? match[1]);
    if (to < from) throw new Error(`not a CPU list: "${list}"`);
    for (let cpu = from; cpu <= to; cpu++) cpus.add(cpu);
  }
  if (cpus.size === 0) throw new Error(`empty CPU list: "${list}"`);
  return [...cpus].sort((a, b) => a - b);
}

/** The shortest CPU list for `cpus` ("0-3,6"). */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    ranges.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}

/** The CPUs this process may run on (its cgroup's and its own mask). */
export function allowedCpus(): number[] {
  const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (!list) throw new Error('no Cpus_allowed_list in /proc/self/status');
  return parseCpuList(list);
}

/** `command args` run through `taskset -c cpus` when `cpus` is given (same pid: taskset execs it). */
export function onCpus(command: string, args: string[], cpus: string | undefined): [string, string[]] {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

/** Pins every thread of a running process (`taskset -a -p -c`); threads and children it creates later inherit. */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** Every process under `pid`, read from /proc. */
export function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/**
 * The CPU lists of every thread of `pid` (and, with `withChildren`, of every process under it), as
 * `taskset -a -c -p` reads them back: one list when they all agree, else the distinct lists
 * joined by " | ".
 */
export async function readAffinity(pid: number, withChildren = false): Promise<string> {
  const pids = withChildren ? [pid, ...descendants(pid)] : [pid];
  const lists = new Set<string>();
  for (const p of pids) {
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync('taskset', ['-a', '-c', '-p', String(p)]));
    } catch {
      continue; // exited between listing and reading
    }
    for (const match of stdout.matchAll(/affinity list: (\S+)/g)) lists.add(formatCpuList(parseCpuList(match[1]!)));
  }
  return [...lists].sort().join(' | ') || 'unknown';
}
