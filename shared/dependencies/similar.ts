import type { TextCollection } from '../vectors/text-collection.ts';
import type { Ecosystem, ProjectRecord, SimilarPair } from './model.ts';

/**
 * Packages similar by name and purpose, through vector search: each declared package is one
 * point of the dependencies' own collection, embedded from its name split into words (its
 * ecosystem is payload, not text: a word every npm package shares made unrelated names 0.4 alike
 * under the local embedder). Manifests say nothing of a dependency's purpose (registries are not
 * consulted), so the purpose is what the embedding model knows of the name: the local hashing
 * embedder matches names sharing words (`lodash` / `lodash-es` 0.72, `pg` / `pg-pool` 0.62,
 * unrelated names 0); a real model also matches purposes (`axios` / `got`).
 */

export interface PackageRef {
  ecosystem: Ecosystem;
  name: string;
}

/** At most this many similar pairs are reported (the closest). */
export const MAX_SIMILAR_PAIRS = 200;
/** Neighbours asked for each package. */
const NEIGHBOURS = 5;

export const packageId = (p: PackageRef) => `${p.ecosystem}:${p.name}`;

/** `@scope/lodash.merge_deep` → `scope lodash merge deep`; camelCase split too. */
export function nameWords(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
}

export function packageText(p: PackageRef): string {
  return nameWords(p.name) || p.name;
}

/** Distinct packages the records declare. */
export function declaredPackages(records: readonly ProjectRecord[]): Map<string, PackageRef> {
  const out = new Map<string, PackageRef>();
  for (const r of records)
    for (const d of r.declarations) out.set(packageId(d), { ecosystem: d.ecosystem, name: d.name });
  return out;
}

/** Embeds the packages not in the collection yet. */
export async function embedNew(collection: TextCollection, packages: Map<string, PackageRef>): Promise<void> {
  const stored = await collection.has([...packages.keys()]);
  const missing = [...packages].filter(([id]) => !stored.has(id));
  await collection.put(
    missing.map(([id, p]) => ({
      id,
      text: packageText(p),
      payload: { ecosystem: p.ecosystem, name: p.name },
    })),
  );
}

/**
 * Pairs of declared packages at least `minScore` alike, one of them in `scope`, each pair once,
 * closest first. Points of packages no project declares any more are never reported.
 */
export async function similarPairs(
  collection: TextCollection,
  scope: Map<string, PackageRef>,
  declared: Map<string, PackageRef>,
  minScore: number,
): Promise<SimilarPair[]> {
  const neighbours = await collection.neighbours([...scope.keys()], { limit: NEIGHBOURS, minScore });
  const pairs = new Map<string, SimilarPair>();
  for (const [id, found] of neighbours) {
    for (const n of found) {
      const other = declared.get(n.id);
      if (!other) continue;
      const key = [id, n.id].sort().join('\u0000');
      if (!pairs.has(key)) pairs.set(key, { a: scope.get(id)!, b: other, score: n.score });
    }
  }
  return [...pairs.values()].sort((x, y) => y.score - x.score).slice(0, MAX_SIMILAR_PAIRS);
}
