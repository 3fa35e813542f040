// One participant's link degraded with tc netem, inside the run's network namespace (netns.ts).
//
// Both veth ends live in the one namespace, so the kernel routes packets between its two addresses
// through `lo` (`ip route get 10.77.0.1 from 10.77.0.2` says `dev lo`), never through the veth: a
// netem on vir0 or vir1 would see none of the media. The degradation therefore sits on `lo`, behind
// u32 filters that pick one process's UDP sockets (a participant's WebRTC media, both directions),
// and leaves everything else (Redis, signalling, the other participants) as it was. HTB is the root
// because it is the classful qdisc these kernels have (no prio); its classes never limit anything.
// Kernels without sch_netem get the loss alone, from packet-loss.ts (nftables).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { insideTestNamespace } from './netns.ts';

const DEVICE = 'lo';
/** A class fast enough never to shape: only the filters' choice of leaf matters. */
const UNLIMITED = ['rate', '100gbit', 'burst', '4mb', 'cburst', '4mb', 'quantum', '65536'];
const NETEM_HANDLE = '20:';

function tc(...args: string[]): string {
  return execFileSync('tc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: Buffer | string }).stderr?.toString().trim();
  return stderr || (err as Error).message;
}

/**
 * Why netem cannot be used here, or undefined when it can: `tc` runs and the kernel has sch_netem.
 * Probes on vir1, which carries no traffic (see the header), and removes the probe at once.
 */
export function netemUnavailableReason(): string | undefined {
  if (!insideTestNamespace()) throw new Error('netem: refusing to change qdiscs outside the test namespace');
  try {
    tc('-V');
  } catch (err) {
    return `no tc (iproute2) in the test namespace: ${stderrOf(err)}`;
  }
  try {
    tc('qdisc', 'add', 'dev', 'vir1', 'root', 'netem', 'delay', '0ms');
  } catch (err) {
    const built = kernelConfigLine('CONFIG_NET_SCH_NETEM');
    if (built?.endsWith('is not set') || /unknown/i.test(stderrOf(err))) return 'no sch_netem on this kernel';
    return `tc cannot add netem here: ${stderrOf(err)}`;
  }
  tc('qdisc', 'del', 'dev', 'vir1', 'root');
  return undefined;
}

/** The kernel's build setting `name` ("# CONFIG_X is not set", "CONFIG_X=m"), when /proc/config.gz tells. */
function kernelConfigLine(name: string): string | undefined {
  try {
    const config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    return config.split('\n').find((line) => line.startsWith(`${name}=`) || line === `# ${name} is not set`);
  } catch {
    return undefined;
  }
}

/** The UDP ports process `pid` has bound (for a participant in that process: its WebRTC sockets). */
export function udpPortsOf(pid: number): number[] {
  const lines = execFileSync('ss', ['-H', '-u', '-a', '-n', '-p'], { encoding: 'utf8' }).split('\n');
  // State, Recv-Q, Send-Q, local address:port, peer, process.
  const ports = lines
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] ?? '')
    .map((local) => Number(local.slice(local.lastIndexOf(':') + 1)));
  return [...new Set(ports.filter((port) => Number.isInteger(port) && port > 0))];
}

export interface NetemStats {
  /** Packets netem passed on (drops not included). */
  readonly packets: number;
  readonly dropped: number;
}

export class DegradedLink {
  private removed = false;

  private constructor(readonly ports: readonly number[]) {}

  /**
   * Puts netem (`netem`: its tc arguments, e.g. ['loss', '5%', 'delay', '40ms', '40ms']) on every
   * UDP packet from or to `ports`. Call remove() in a finally: the qdisc outlives this process
   * until the namespace goes.
   */
  static apply(options: { ports: readonly number[]; netem: readonly string[] }): DegradedLink {
    if (options.ports.length === 0) throw new Error('netem: no ports to degrade');
    const link = new DegradedLink(options.ports);
    try {
      tc('qdisc', 'add', 'dev', DEVICE, 'root', 'handle', '1:', 'htb', 'default', '1');
      tc('class', 'add', 'dev', DEVICE, 'parent', '1:', 'classid', '1:1', 'htb', ...UNLIMITED);
      tc('class', 'add', 'dev', DEVICE, 'parent', '1:', 'classid', '1:2', 'htb', ...UNLIMITED);
      tc('qdisc', 'add', 'dev', DEVICE, 'parent', '1:2', 'handle', NETEM_HANDLE, 'netem', ...options.netem);
      for (const port of options.ports) {
        for (const direction of ['sport', 'dport']) {
          tc('filter', 'add', 'dev', DEVICE, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32',
            'match', 'ip', 'protocol', '17', '0xff', 'match', 'ip', direction, String(port), '0xffff', 'flowid', '1:2');
        }
      }
    } catch (err) {
      link.remove();
      throw new Error(`netem: could not degrade the link: ${stderrOf(err)}`);
    }
    return link;
  }

  /** What netem has done so far. */
  stats(): NetemStats {
    const shown = tc('-s', 'qdisc', 'show', 'dev', DEVICE);
    const netem = shown.slice(shown.indexOf(`qdisc netem ${NETEM_HANDLE}`));
    const counters = /Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(netem);
    if (!counters) throw new Error(`netem: no counters in:\n${shown}`);
    return { packets: Number(counters[1]), dropped: Number(counters[2]) };
  }

  /** Back to a plain `lo`. Idempotent; never throws. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      tc('qdisc', 'del', 'dev', DEVICE, 'root');
    } catch {
      // nothing was added, or it is gone already
    }
  }
}
