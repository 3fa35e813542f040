// `npm start`: the runtime process. Reads the configuration from the environment, runs until
// SIGTERM or SIGINT, then shuts down gracefully and exits 0.
import './production-defaults.ts';
import { ConfigError, type RuntimeConfig, loadConfig } from '../shared/config.ts';
import { keepConnectionsAlive } from '../shared/http-keep-alive.ts';
import { errorFields, logger, setLogLevel } from '../shared/logging.ts';
import { Runtime, type RuntimeOptions } from './runtime.ts';

const log = logger('runtime');

/** process.exit() drops what is still queued for a piped stdout: the last log lines matter most. */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

export async function main(options: RuntimeOptions = {}): Promise<void> {
  let config: RuntimeConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error('invalid configuration', { problems: err.problems });
    console.error(err.message);
    exitAfterFlush(1);
    return;
  }
  setLogLevel(config.logLevel);
  keepConnectionsAlive(); // the central server's, between deliveries

  const runtime = await Runtime.start(config, options);
  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info('signal received', { signal });
      runtime.close().then(
        () => exitAfterFlush(0),
        (err) => {
          log.error('shutdown failed', errorFields(err));
          exitAfterFlush(1);
        },
      );
    });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    log.error('runtime failed to start', errorFields(err));
    process.exit(1);
  });
}
