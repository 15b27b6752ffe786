import { useQdrantFetchBuild } from '../local/module-hooks.ts';

/**
 * The local runtime as `npm start` runs it, for the API benchmarks: `node bench/api-runtime.ts
 * <dataDir> <port> <local|off>`. Two differences, both for measuring: no request limits (a load
 * run is far over them by design), and authentication as the third argument says (`local`: the
 * gateway verifies a token on every request; `off`: none, for the comparison). Prints
 * `{"token": …}` (an administrator's) once started; runs until killed.
 */
useQdrantFetchBuild();
const { startLocalRuntime } = await import('../local/runtime.ts');
const [dataDir, port, auth] = process.argv.slice(2);
if (!dataDir || !port || (auth !== 'local' && auth !== 'off')) {
  throw new Error('usage: api-runtime.ts <dataDir> <port> <local|off>');
}
const rt = await startLocalRuntime({ dataDir, port: Number(port), quiet: true, limits: false, auth });
process.stdout.write(`${JSON.stringify({ token: await rt.issueToken({ groups: ['admin'] }) })}\n`);
const stop = () => rt.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
