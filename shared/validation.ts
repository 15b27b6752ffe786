import type { z } from 'zod';
import { ValidationError } from './errors.ts';

/**
 * Parses `value` with a zod schema; on failure throws one ValidationError whose issues name each
 * field (dotted path, prefixed by `where` when given: `query.limit`) and the reason.
 */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return { field: [where, path].filter(Boolean).join('.') || where || 'body', reason: issue.message };
  });
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new ValidationError(`${first.field}: ${first.reason}${more}`, issues);
}

/**
 * Deepest nesting of objects and arrays in a payload or a filter (the payload or filter object is
 * level 1), whoever writes it (the API, a migration). Thousands of levels overflowed the stack of
 * the Qdrant client's JSON writer (filters) and parser (payloads, stored and then unreadable); real
 * Qdrant refuses JSON deeper than 128.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * Whether `value` nests objects and arrays more than `max` levels deep (`value` itself being level
 * 1). Iterative, so checking input of any depth cannot overflow the stack.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [current, depth] = next;
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}
