// The operations endpoint: GET /healthz (200 only when Redis answers and the pool and dispatcher
// run; 503 with the failing checks otherwise) and GET /metrics (Prometheus text format).
import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../shared/logging.ts';
import type { RuntimeMetrics } from './metrics.ts';

const log = logger('ops');

export type HealthChecks = () => Promise<Record<string, boolean>>;

export class OpsServer {
  private readonly server: Server;

  constructor(metrics: RuntimeMetrics, checks: HealthChecks) {
    this.server = createServer(async (req, res) => {
      try {
        if (req.method === 'GET' && req.url === '/healthz') {
          const results = await checks();
          const ok = Object.values(results).every(Boolean);
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks: results }));
        } else if (req.method === 'GET' && req.url === '/metrics') {
          const body = await metrics.registry.metrics();
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        } else {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found: try /healthz or /metrics\n');
        }
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${(err as Error).message}\n`);
      }
    });
  }

  /** Listens on host:port (port 0 picks a free one); resolves with the bound port. */
  async listen(port: number, host: string): Promise<number> {
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const bound = (this.server.address() as AddressInfo).port;
    log.info('operations endpoint listening', { host, port: bound });
    return bound;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
