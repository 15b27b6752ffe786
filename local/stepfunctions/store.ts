import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionRecord } from './history.ts';

/**
 * What the local Step Functions keeps under `dataDir`: `state-machines.json` (written whole) and
 * one file per execution in `executions/` (description + history). Writes are serialized per file,
 * each writing the latest content (tmp + rename), so a write never leaves a file half written.
 */

export interface StateMachineRecord {
  name: string;
  arn: string;
  definition: string;
  roleArn: string;
  creationDate: number;
}

export interface StepFunctionsStore {
  /** By ARN. */
  machines: Map<string, StateMachineRecord>;
  executions: Map<string, ExecutionRecord>;
  saveMachines(): Promise<void>;
  saveExecution(record: ExecutionRecord): Promise<void>;
  /** Forgets an execution and removes its file. */
  deleteExecution(arn: string): Promise<void>;
  /** Resolves once the writes under way have ended. */
  settled(): Promise<void>;
}

/** Loads what `dataDir` holds (skipping unreadable execution files, as `log` says). */
export async function openStore(
  dataDir: string,
  log: (message: string) => void,
): Promise<StepFunctionsStore> {
  const machinesFile = join(dataDir, 'state-machines.json');
  const executionsDir = join(dataDir, 'executions');
  await mkdir(executionsDir, { recursive: true });
  const machines = new Map<string, StateMachineRecord>(
    Object.entries(await readJson<Record<string, StateMachineRecord>>(machinesFile, {})),
  );
  const executions = new Map<string, ExecutionRecord>();
  for (const file of (await readdir(executionsDir)).filter((f) => f.endsWith('.json'))) {
    let record: ExecutionRecord;
    try {
      record = JSON.parse(await readFile(join(executionsDir, file), 'utf8')) as ExecutionRecord;
    } catch (err) {
      log(`[stepfunctions] skipped the unreadable execution file ${file}: ${(err as Error).message}`);
      continue;
    }
    executions.set(record.executionArn, record);
  }

  const writes = new Map<string, Promise<void>>();
  const executionFile = (arn: string) =>
    join(executionsDir, `${createHash('sha256').update(arn).digest('hex').slice(0, 40)}.json`);
  const writeFileAtomic = (file: string, content: () => string): Promise<void> => {
    const write = (writes.get(file) ?? Promise.resolve()).then(async () => {
      const temp = `${file}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(content());
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    });
    writes.set(
      file,
      write.catch((err: unknown) =>
        log(`[stepfunctions] could not write ${file}: ${(err as Error).message}`),
      ),
    );
    return write;
  };

  return {
    machines,
    executions,
    saveMachines: () =>
      writeFileAtomic(machinesFile, () => `${JSON.stringify(Object.fromEntries(machines), null, 2)}\n`),
    saveExecution: (record) =>
      writeFileAtomic(executionFile(record.executionArn), () => `${JSON.stringify(record)}\n`),
    deleteExecution: async (arn) => {
      executions.delete(arn);
      await unlink(executionFile(arn)).catch(() => undefined);
    },
    settled: async () => {
      await Promise.allSettled([...writes.values()]);
    },
  };
}

async function readJson<T>(file: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw err;
  }
}
