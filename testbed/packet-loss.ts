// Random loss on one participant's media with nftables, inside the run's network namespace
// (netns.ts), for kernels without sch_netem (netem.ts).
//
// The namespace's two addresses talk through `lo` (see netem.ts), so every packet from or to the
// participant's UDP ports arrives on `lo`'s input hook exactly once, whichever way it goes. Packets
// are dropped there, on arrival, like a lossy network: a drop on the output hook would make the
// sender's sendmsg() fail with EPERM, which no real link does. The table is the test's own: it
// leaves everything else (Redis, signalling, the other participants) as it was, and its counters
// show what it saw and dropped in each direction.
import { execFileSync } from 'node:child_process';
import { insideTestNamespace } from './netns.ts';

const TABLE = 'degraded_link';
const COUNTERS = ['sent', 'sent_dropped', 'received', 'received_dropped'] as const;

function nft(args: readonly string[], input?: string): string {
  return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: Buffer | string }).stderr?.toString().trim();
  return stderr || (err as Error).message;
}

export interface PacketLossStats {
  /** Packets from the participant's ports that reached `lo`, dropped ones included... */
  readonly sent: number;
  readonly sentDropped: number;
  /** ...and packets to them. */
  readonly received: number;
  readonly receivedDropped: number;
}

export class PacketLoss {
  private removed = false;

  private constructor() {}

  /**
   * Drops `percent`% of the UDP packets from or to `ports`, at random, each direction on its own.
   * Call remove() in a finally: the table outlives this process until the namespace goes.
   */
  static apply(options: { ports: readonly number[]; percent: number }): PacketLoss {
    if (!insideTestNamespace()) throw new Error('packet loss: refusing to change nftables outside the test namespace');
    if (options.ports.length === 0) throw new Error('packet loss: no ports to degrade');
    const { percent } = options;
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new Error(`packet loss: percent must be an integer 0-100, not ${percent}`);
    const lose = `numgen random mod 100 < ${percent}`;
    // Declaring then deleting the table first makes the script start from nothing, in one transaction.
    const ruleset = `
      table inet ${TABLE}
      delete table inet ${TABLE}
      table inet ${TABLE} {
        set participant_ports { type inet_service; elements = { ${options.ports.join(', ')} } }
        ${COUNTERS.map((name) => `counter ${name} {}`).join('\n        ')}
        chain input {
          type filter hook input priority filter; policy accept;
          iifname "lo" udp sport @participant_ports counter name sent ${lose} counter name sent_dropped drop
          iifname "lo" udp dport @participant_ports counter name received ${lose} counter name received_dropped drop
        }
      }`;
    try {
      nft(['-f', '-'], ruleset);
    } catch (err) {
      throw new Error(`packet loss: nft could not add its table: ${stderrOf(err)}`);
    }
    return new PacketLoss();
  }

  /** What the table has seen and dropped so far. */
  stats(): PacketLossStats {
    const listed = JSON.parse(nft(['-j', 'list', 'counters', 'table', 'inet', TABLE])) as {
      nftables: { counter?: { name: string; packets: number } }[];
    };
    const packets = (name: (typeof COUNTERS)[number]) => {
      const counter = listed.nftables.find((entry) => entry.counter?.name === name)?.counter;
      if (!counter) throw new Error(`packet loss: no counter ${name} in table ${TABLE}`);
      return counter.packets;
    };
    return {
      sent: packets('sent'),
      sentDropped: packets('sent_dropped'),
      received: packets('received'),
      receivedDropped: packets('received_dropped'),
    };
  }

  /** Removes the table. Idempotent; never throws. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      nft(['delete', 'table', 'inet', TABLE]);
    } catch {
      // gone already
    }
  }
}
