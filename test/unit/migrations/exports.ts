/**
 * Generators of small exports in every accepted format, with known content: vector records,
 * text-only records, a bad record and duplicate ids, so tests can predict every count.
 */

export interface ExportSpec {
  /** Records with a vector. */
  vectors: number;
  /** Text-only records (embedded by the worker). */
  texts: number;
  dimensions: number;
  /** Ids (among the vector records) repeated at the end with another vector: the last one wins. */
  duplicates?: number;
  /** Records that must be rejected (a non-numeric vector component). */
  bad?: number;
  seed?: number;
}

export interface ExportRecord {
  id: string;
  vector?: number[];
  text?: string;
}

/** A small deterministic PRNG (mulberry32): the same spec always gives the same export. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOPICS = ['email relay', 'qdrant migration', 'dashboard metrics', 'backup strategy', 'plan parser'];

/** The records in document order, and the expected winner of each id (last occurrence). */
export function exportRecords(spec: ExportSpec): { records: ExportRecord[]; bad: number } {
  const next = random(spec.seed ?? 7);
  const vector = () =>
    Array.from({ length: spec.dimensions }, () => Math.round((next() * 2 - 1) * 1e6) / 1e6);
  const records: ExportRecord[] = [];
  for (let i = 0; i < spec.vectors; i++) records.push({ id: `dep_task_${i}`, vector: vector() });
  for (let i = 0; i < spec.texts; i++) {
    records.push({ id: `text_${i}`, text: `Task ${i}: ${TOPICS[i % TOPICS.length]} for the platform` });
  }
  for (let i = 0; i < (spec.duplicates ?? 0); i++) records.push({ id: `dep_task_${i}`, vector: vector() });
  return { records, bad: spec.bad ?? 0 };
}

/** The legacy `task_vectors.json`: pretty-printed, one number per line, `metadata` first. */
export function legacyExport(spec: ExportSpec): string {
  const { records, bad } = exportRecords(spec);
  const tasks: unknown[] = records.map((r) => ({
    TaskId: r.id,
    Description: r.text ?? `Description of ${r.id}`,
    Vector: r.vector ?? null,
    Status: 'todo',
  }));
  for (let i = 0; i < bad; i++) {
    // Inserted in the middle: a bad record must not sink its neighbours.
    tasks.splice(Math.floor(tasks.length / 2), 0, { TaskId: `bad_${i}`, Vector: [0.5, 'x'] });
  }
  return JSON.stringify(
    { metadata: { vectorDimension: spec.dimensions, exportedBy: 'legacy-exporter' }, tasks },
    null,
    2,
  );
}

/** JSON Lines: one record per line (`id`, `vector` or `text`, `payload`). */
export function jsonlExport(spec: ExportSpec): string {
  const { records, bad } = exportRecords(spec);
  const lines = records.map((r) =>
    JSON.stringify({
      id: r.id,
      ...(r.vector ? { vector: r.vector } : { text: r.text }),
      payload: { source: 'jsonl' },
    }),
  );
  for (let i = 0; i < bad; i++)
    lines.splice(Math.floor(lines.length / 2), 0, `{"id": "bad_${i}", "vector": [`);
  return `${lines.join('\n')}\n`;
}

/** Qdrant points JSON: `{"points": [{id, vector, payload}]}` (vectors only: Qdrant points carry one). */
export function qdrantPointsExport(spec: ExportSpec): string {
  const { records } = exportRecords(spec);
  const points = records
    .filter((r) => r.vector)
    .map((r) => ({ id: r.id, vector: r.vector, payload: { source: 'qdrant' } }));
  return JSON.stringify({ points });
}

/** A JSON array of records with `embedding` and `metadata` (another legacy exporter's shape). */
export function jsonArrayExport(spec: ExportSpec): string {
  const { records } = exportRecords(spec);
  return JSON.stringify(
    records.map((r) => ({
      _id: r.id,
      ...(r.vector ? { embedding: r.vector } : { content: r.text }),
      metadata: { source: 'array' },
    })),
    null,
    1,
  );
}
