// `npm run demo`: the headless demo (scripts/demo.ts) in a private network namespace of its own.
// `npm run demo -- --serve`: the product for a browser on this machine (scripts/serve.ts), in the
// machine's own network, so that the browser reaches the SFU and the page.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const command = args.includes('--serve')
  ? ['--import', 'tsx', 'scripts/serve.ts', ...args]
  : ['--import', 'tsx', 'testbed/netns-run.ts', '--', process.execPath, '--import', 'tsx', 'scripts/demo.ts', ...args];
const child = spawn(process.execPath, command, { stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group (a second one would cut its
// shutdown short): wait for it to stop. A SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
