import { hash } from 'node:crypto';
import { uuidV5 } from '#shared/ids.ts';
import type { TaskStatus } from './types.ts';

/**
 * Stable ids of plan tasks and headings. A UUIDv5 name is a JSON array, so no plan id, explicit
 * id, title or text can forge another one's name by containing a separator:
 * - task with an explicit id: `["plan-task", planId, "explicit", explicitId]`;
 * - task without: `["plan-task", planId, "text", pathDigest, normalizedText]`;
 * - heading: `["plan-heading", planId, pathDigest]`;
 * where `pathDigest` is the chained digest of the heading path's normalized titles (see
 * `chainPath`), so that an id costs the same however deep and long the path above it.
 * The occurrence number is appended only from the second occurrence on, so a task written once
 * keeps its id whether or not some other part of the plan repeats itself.
 */

/** Digest of the empty heading path (tasks before any heading). */
export const ROOT_PATH = '';

/** Digest of a heading path from its parent path's digest and its own title. */
export function chainPath(parentDigest: string, title: string): string {
  return hash('sha256', JSON.stringify([parentDigest, title]), 'hex');
}

function withOccurrence(json: string, occurrence: number): string {
  return occurrence > 1 ? `${json},${occurrence}]` : `${json}]`;
}

/** The plan id as it enters every name: JSON-encoded once per plan. */
export function planKey(planId: string): string {
  return JSON.stringify(planId);
}

/** `normalizedPath` is the digest of the heading path's normalized titles. */
export function headingId(planKey: string, normalizedPath: string, occurrence: number): string {
  return uuidV5(withOccurrence(`["plan-heading",${planKey},"${normalizedPath}"`, occurrence));
}

export function explicitTaskId(planKey: string, explicitId: string, occurrence: number): string {
  return uuidV5(
    withOccurrence(`["plan-task",${planKey},"explicit",${JSON.stringify(explicitId)}`, occurrence),
  );
}

/** The part of an implicit task id's name shared by every task under one heading path. */
export function implicitPrefix(planKey: string, normalizedPath: string): string {
  return `["plan-task",${planKey},"text","${normalizedPath}"`;
}

/** `normalizedText` is `normalizeForId(text)`, which also keys the occurrence count. */
export function implicitTaskId(prefix: string, normalizedText: string, occurrence: number): string {
  return uuidV5(withOccurrence(`${prefix},${JSON.stringify(normalizedText)}`, occurrence));
}

/**
 * SHA-256 (hex) of what a re-index must notice: text, status, explicit id, heading path (as the
 * digest of its titles as written, `rawPath`) and parent id.
 */
export function contentHash(
  text: string,
  status: TaskStatus,
  explicitId: string | null,
  rawPath: string,
  parentId: string | null,
): string {
  const json = `[${JSON.stringify(text)},"${status}",${JSON.stringify(explicitId)},"${rawPath}",${JSON.stringify(parentId)}]`;
  return hash('sha256', json, 'hex');
}
