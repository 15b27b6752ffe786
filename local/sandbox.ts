import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  callHandler,
  type Handler,
  importHandler,
  marshal,
  SandboxInvocationSchema,
  type SandboxReply,
  toErrorData,
} from './functions.ts';
import { useQdrantFetchBuild } from './module-hooks.ts';

/**
 * An execution environment, in one of two forms. A child process the local runtime forks for an
 * isolated function (`createInvoker`'s `isolate`), as Lambda runs each invocation in a sandbox of
 * its own: it runs one invocation at a time. Or a worker thread (every other function): its own
 * module instances, configuration and `process.env`, serving concurrent invocations. Either way it
 * gets the handler module's path and manifest entry (argv, or workerData), loads the module once
 * (init), reports ready, then runs the invocations it is sent and answers each with the marshalled
 * result or the error. The runtime owns the timeout; the environment only builds the `Context`
 * from the deadline it is given.
 */

const thread = !isMainThread;
if (!thread) {
  // The runtime closed the channel or died: an environment never outlives it.
  process.on('disconnect', () => process.exit(0));
  // Ctrl+C reaches the whole process group: the runtime, which stops its consumers and lets the
  // batches in flight finish before it closes its environments, decides when this one ends.
  process.on('SIGINT', () => {});
}

function reply(message: SandboxReply): void {
  if (thread) parentPort?.postMessage(message);
  else process.send?.(message);
}

async function main(): Promise<void> {
  const [file, entry] = thread ? (workerData as [string, string]) : process.argv.slice(2);
  if ((!thread && !process.send) || !file || !entry) {
    throw new Error('sandbox.ts is started by the local runtime: <handler file> <entry>, with a channel');
  }
  useQdrantFetchBuild();
  let handler: Handler;
  try {
    handler = await importHandler(file, entry);
  } catch (err) {
    // The runtime fails the invocation with this error and discards the environment.
    reply({ kind: 'init-error', error: toErrorData(err) });
    return;
  }

  const onInvocation = async (message: unknown) => {
    const invocation = SandboxInvocationSchema.safeParse(message);
    if (!invocation.success) return;
    const { event, context } = invocation.data;
    try {
      const value = marshal(await callHandler(handler, event, context));
      reply({ kind: 'result', requestId: context.awsRequestId, value });
    } catch (err) {
      reply({ kind: 'error', requestId: context.awsRequestId, error: toErrorData(err) });
    }
  };
  if (thread) parentPort?.on('message', onInvocation);
  else process.on('message', onInvocation);
  reply({ kind: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
