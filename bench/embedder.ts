import { pathToFileURL } from 'node:url';
import { LocalEmbedder } from '#shared/embeddings/local.ts';

/**
 * Local embedder throughput: 50k short task-like texts (5–15 words, French and English mixed,
 * accents included), one thread, median of several runs after a warm-up.
 */

const TEXTS = 50_000;
const RUNS = 5;

// `|`-separated so that multi-word entries ("Mettre à jour") stay whole.
const VERBS = (
  'Implement|Add|Fix|Update|Migrate|Deploy|Test|Refactor|Document|Validate|' +
  'Ajouter|Corriger|Mettre à jour|Migrer|Déployer|Tester|Réécrire|Définir|Vérifier'
).split('|');
const WORDS = (
  'vector|search|qdrant|lambda|index|plan|task|phase|section|embedding|collection|upsert|queue|bucket|' +
  'event|bus|manager|health|metrics|alias|the|for|with|and|of|recherche|vectorielle|tâche|schéma|données|' +
  "file|d'attente|événements|gestionnaire|santé|métriques|la|le|de|des|pour|avec|dans|export|JSONL|v2|" +
  'API|gateway|JWT|rôles|tests|unitaires|migration'
).split('|');

/** Deterministic generator (LCG): every run and machine benchmarks the same texts. */
export function generateTexts(count: number, seed = 42): string[] {
  let state = seed >>> 0;
  const next = (n: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state >>> 8) % n; // high bits: an LCG's low bits cycle quickly
  };
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = [VERBS[next(VERBS.length)]!];
    const length = 5 + next(11);
    while (words.length < length) words.push(WORDS[next(WORDS.length)]!);
    texts.push(words.join(' '));
  }
  return texts;
}

export async function benchEmbedder(): Promise<Record<string, unknown>> {
  const embedder = new LocalEmbedder();
  const texts = generateTexts(TEXTS);
  embedder.embedSync(texts.slice(0, 5_000)); // warm-up: JIT and the character-class cache
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    const rows = embedder.embedSync(texts);
    const seconds = (performance.now() - start) / 1000;
    if (rows.length !== texts.length) throw new Error('embedder returned the wrong number of rows');
    rates.push(texts.length / seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  return {
    name: 'local-embedder',
    model: embedder.model,
    dimensions: embedder.dimensions,
    texts: texts.length,
    runs: RUNS,
    textsPerSecondMedian: Math.round(median),
    textsPerSecondMin: Math.round(rates[0]!),
    textsPerSecondMax: Math.round(rates[rates.length - 1]!),
    microsecondsPerTextMedian: Number((1e6 / median).toFixed(2)),
    node: process.version,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${JSON.stringify(await benchEmbedder(), null, 2)}\n`);
}
