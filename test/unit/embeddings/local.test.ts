import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MODEL } from '#shared/config.ts';
import { LocalEmbedder } from '#shared/embeddings/local.ts';
import { MAX_INPUT_TOKENS } from '#shared/embeddings/validate.ts';
import { ValidationError } from '#shared/errors.ts';

const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]): number => Math.sqrt(dot(a, a));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('LocalEmbedder', () => {
  const embedder = new LocalEmbedder();

  it('declares the local model and 384 dimensions by default', async () => {
    const [row] = await embedder.embed(['Mettre en place le pipeline de migration']);

    expect(embedder.model).toBe(LOCAL_EMBEDDING_MODEL);
    expect(embedder.dimensions).toBe(LOCAL_EMBEDDING_DIMENSIONS);
    expect(row).toHaveLength(384);
  });

  it('honours any positive dimension count, and rejects others', async () => {
    for (const dimensions of [1, 7, 1536]) {
      const [row] = await new LocalEmbedder({ dimensions }).embed(['a task']);
      expect(row).toHaveLength(dimensions);
      expect(norm(row!)).toBeCloseTo(1, 10);
    }
    for (const dimensions of [0, -3, 2.5, Number.NaN]) {
      expect(() => new LocalEmbedder({ dimensions })).toThrow(RangeError);
    }
  });

  it('returns unit vectors in input order, one per text', async () => {
    const texts = ['Implement batch search', 'Ajouter les tests unitaires', 'Deploy'];
    const rows = await embedder.embed(texts);
    const singles = await Promise.all(texts.map(async (t) => (await embedder.embed([t]))[0]));

    expect(rows).toEqual(singles);
    for (const row of rows) expect(norm(row)).toBeCloseTo(1, 10);
  });

  it('is deterministic across instances and across processes', async () => {
    const text = 'Définir le schéma Zod des événements — phase 2.3';
    const [a] = await embedder.embed([text]);
    const [b] = await new LocalEmbedder().embed([text]);
    const script = [
      `import { LocalEmbedder } from ${JSON.stringify(fileURLToPath(new URL('../../../shared/embeddings/local.ts', import.meta.url)))};`,
      `process.stdout.write(JSON.stringify(new LocalEmbedder().embedSync([${JSON.stringify(text)}])[0]));`,
    ].join('\n');
    const other = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as number[];

    expect(b).toEqual(a);
    expect(other).toEqual(a);
  });

  it('folds case and French accents', async () => {
    const [accented, plain, upper] = await embedder.embed([
      'Définir la stratégie de déploiement',
      'definir la strategie de deploiement',
      'DÉFINIR LA STRATÉGIE DE DÉPLOIEMENT',
    ]);

    expect(dot(accented!, plain!)).toBeCloseTo(1, 10);
    expect(dot(accented!, upper!)).toBeCloseTo(1, 10);
  });

  it('places a text nearer to a paraphrase sharing words than to an unrelated text', async () => {
    const [text, paraphrase, unrelated] = await embedder.embed([
      'Migrate the legacy task vectors into Qdrant',
      'Migration of legacy task vectors to the Qdrant collection',
      'Write the weekly newsletter about the office party',
    ]);

    expect(dot(text!, paraphrase!)).toBeGreaterThan(dot(text!, unrelated!) + 0.3);
  });

  it('ignores stopwords but still embeds a text made only of them', async () => {
    const [withStop, without, onlyStop, otherStop] = await embedder.embed([
      'the plan of the migration',
      'plan migration',
      'to be or not to be',
      'le la les',
    ]);

    expect(dot(withStop!, without!)).toBeCloseTo(1, 10);
    expect(dot(onlyStop!, otherStop!)).toBeLessThan(0.5);
  });

  it('embeds texts without letters or digits', async () => {
    const [bang, question, emoji] = await embedder.embed(['!!!', '???', '🚀🚀']);

    for (const row of [bang!, question!, emoji!]) expect(norm(row)).toBeCloseTo(1, 10);
    expect(dot(bang!, question!)).toBeLessThan(0.99);
  });

  it('rejects empty, blank and over-long inputs, naming each field, before any work', async () => {
    const long = 'x'.repeat(MAX_INPUT_TOKENS * 3 + 1);
    const err = await rejection(embedder.embed(['ok', '', 'fine', ' \n\t', long]));

    expect(err).toBeInstanceOf(ValidationError);
    const issues = (err as ValidationError).issues;
    expect(issues.map((i) => i.field)).toEqual(['texts.1', 'texts.3', 'texts.4']);
    expect(issues[2]!.reason).toMatch(/at most 8192 tokens/);
    expect((err as ValidationError).message).toMatch(/^texts\.1: .*\(and 2 more\)$/);
  });

  it('accepts an input right at the length limit', async () => {
    const rows = await embedder.embed(['x'.repeat(MAX_INPUT_TOKENS * 3)]);
    expect(norm(rows[0]!)).toBeCloseTo(1, 10);
  });

  it('property: any strings give finite unit vectors, or a ValidationError naming a blank one', async () => {
    const small = new LocalEmbedder({ dimensions: 16 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.string({ unit: 'binary' }),
            fc.string({ unit: 'grapheme' }),
            fc.constantFrom('', ' ', '\u00a0', '\u0301', 'é', 'É', '\ud800', 'ß', 'ﬁ'),
          ),
          { maxLength: 8 },
        ),
        async (texts) => {
          const blank = texts.findIndex((t) => t.trim() === '');
          if (blank >= 0) {
            const err = await rejection(small.embed(texts));
            expect(err).toBeInstanceOf(ValidationError);
            expect((err as ValidationError).issues[0]!.field).toBe(`texts.${blank}`);
            return;
          }
          const rows = await small.embed(texts);
          expect(rows).toHaveLength(texts.length);
          for (const row of rows) {
            expect(row).toHaveLength(16);
            expect(row.every(Number.isFinite)).toBe(true);
            expect(Math.abs(norm(row) - 1)).toBeLessThan(1e-9);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
