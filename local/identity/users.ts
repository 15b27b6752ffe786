import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The people the local issuer gave a token to, standing for the user pool's users: each person's
 * username (the token's subject), the groups of their latest token, and when they were first and
 * last given one. One file per person under `<dataDir>/identity/users`, so the runtime and
 * `npm run token` (another process) never overwrite each other's records.
 */

const LocalUserSchema = z.object({
  username: z.string().min(1),
  groups: z.array(z.string()),
  firstIssuedAt: z.iso.datetime(),
  lastIssuedAt: z.iso.datetime(),
});
export type LocalUser = z.infer<typeof LocalUserSchema>;

export function usersDirOf(dataDir: string): string {
  return resolve(dataDir, 'identity', 'users');
}

export class LocalUserStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Records a token given to `username` now; its groups replace the ones recorded before. */
  async record(username: string, groups: readonly string[], at = new Date()): Promise<void> {
    const file = this.#fileOf(username);
    const previous = await this.#read(file);
    const user: LocalUser = LocalUserSchema.parse({
      username,
      groups: [...new Set(groups)],
      firstIssuedAt: previous?.firstIssuedAt ?? at.toISOString(),
      lastIssuedAt: at.toISOString(),
    });
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    // Written whole, then renamed: a reader never sees half a record.
    const temp = `${file}.${randomUUID()}.tmp`;
    await writeFile(temp, `${JSON.stringify(user)}\n`, { mode: 0o600 });
    await rename(temp, file);
  }

  /** Every recorded person, by username. */
  async list(): Promise<LocalUser[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const users = await Promise.all(
      names.filter((n) => n.endsWith('.json')).map((n) => this.#read(join(this.#dir, n))),
    );
    return users
      .filter((u): u is LocalUser => u !== undefined)
      .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  }

  /** The username as a file name: base64url keeps any subject (slashes, dots) one safe name. */
  #fileOf(username: string): string {
    return join(this.#dir, `${Buffer.from(username, 'utf8').toString('base64url')}.json`);
  }

  async #read(file: string): Promise<LocalUser | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return LocalUserSchema.parse(JSON.parse(text));
    } catch {
      throw new Error(`The local user record ${file} is unreadable; delete it`);
    }
  }
}
