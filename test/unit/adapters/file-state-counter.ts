/**
 * Child process of the file-state tests: increments one counter item `count` times with
 * compare-and-set writes, retrying on ConflictError, as a migration worker updates its job item.
 * Usage: node file-state-counter.ts <dir> <count>. Prints the number of conflicts it retried.
 */
import { FileStateStore } from '#shared/adapters/file-state.ts';
import { ConflictError } from '#shared/errors.ts';

const [dir, count] = process.argv.slice(2);
if (!dir || !count) throw new Error('usage: file-state-counter.ts <dir> <count>');
const store = new FileStateStore({ dir });
let conflicts = 0;
for (let done = 0; done < Number(count); ) {
  const current = await store.get<number>('counters', 'shared');
  if (!current) throw new Error('the counter item must exist before the workers start');
  try {
    await store.put('counters', 'shared', current.value + 1, { expectedVersion: current.version });
    done++;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    conflicts++;
  }
}
process.stdout.write(String(conflicts));
