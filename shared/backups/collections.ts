import type { QdrantClient } from '@qdrant/js-client-rest';
import { NotFoundError } from '../errors.ts';
import { qdrantCall } from '../vectors/qdrant-errors.ts';

/** A collection as a backup names it: by its alias when one points at it, and what it reads. */
export interface NamedCollection {
  name: string;
  collection: string;
}

/**
 * The collections a backup covers. Named ones are taken as aliases first, then as collections
 * (an unknown name is a 404 naming it). Without names: every alias, and every collection no
 * alias points at, except a migration's versions (`<target>__<jobId>`: those not behind their
 * alias are kept only for a rollback).
 */
export async function resolveCollections(
  qdrant: QdrantClient,
  names: readonly string[],
): Promise<NamedCollection[]> {
  const [{ collections }, { aliases }] = await Promise.all([
    qdrantCall({}, () => qdrant.getCollections()),
    qdrantCall({}, () => qdrant.getAliases()),
  ]);
  const real = new Set(collections.map((c) => c.name));
  const aliased = new Map(aliases.map((a) => [a.alias_name, a.collection_name]));
  if (names.length > 0) {
    const unknown = names.filter((n) => !aliased.has(n) && !real.has(n));
    if (unknown.length > 0) {
      throw new NotFoundError(`no collection or alias named ${unknown.map((n) => `"${n}"`).join(', ')}`, [
        { field: 'input.collections', reason: `not found: ${unknown.join(', ')}` },
      ]);
    }
    return names.map((name) => ({ name, collection: aliased.get(name) ?? name }));
  }
  const behindAlias = new Set(aliased.values());
  const all: NamedCollection[] = [
    ...[...aliased].map(([name, collection]) => ({ name, collection })),
    ...[...real]
      .filter((name) => !behindAlias.has(name) && !name.includes('__'))
      .map((name) => ({ name, collection: name })),
  ];
  return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whether `name` is a collection (not an alias): a migration cannot switch an alias of that name. */
export async function isCollection(qdrant: QdrantClient, name: string): Promise<boolean> {
  const { collections } = await qdrantCall({}, () => qdrant.getCollections());
  return collections.some((c) => c.name === name);
}
