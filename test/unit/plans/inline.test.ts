import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFrontMatter } from '#shared/plans/front-matter.ts';
import {
  MAX_NUMBER_PARTS,
  normalizeForId,
  readDeclaredProgress,
  readEstimate,
  readExplicitId,
  readPriority,
  readStep,
  readTags,
  readTrailingSymbol,
} from '#shared/plans/inline.ts';

describe('readExplicitId', () => {
  it('reads bold, plain, trailing-dot and colon forms', () => {
    expect(readExplicitId('**1.2.3** Définir')).toEqual({ id: '1.2.3', text: 'Définir' });
    expect(readExplicitId('**1.2.3.** Définir')).toEqual({ id: '1.2.3', text: 'Définir' });
    expect(readExplicitId('1.1. Définir')).toEqual({ id: '1.1', text: 'Définir' });
    expect(readExplicitId('1.1 : Définir')).toEqual({ id: '1.1', text: 'Définir' });
    expect(readExplicitId('3. Définir')).toEqual({ id: '3', text: 'Définir' });
    expect(readExplicitId('**4** Définir')).toEqual({ id: '4', text: 'Définir' });
    expect(readExplicitId('**1.2 Bold title**')).toEqual({ id: '1.2', text: '**Bold title**' });
  });

  it('takes neither a bare number, a date nor a version for an id', () => {
    for (const text of [
      '3 fichiers à créer',
      '2025-05-28 revue',
      '1.5x plus rapide',
      '**Phase 1** (v68)',
      'v1.2 livrée',
    ]) {
      expect(readExplicitId(text)).toBeNull();
    }
  });
});

describe('dotted numbers: ids and step numbers', () => {
  /** A dotted number of `parts` parts. */
  const dotted = (parts: number) => Array.from({ length: parts }, (_, i) => String((i % 9) + 1)).join('.');
  const deepest = '2.1.2.4.1.2.3.2.2.5.3.2.2.5.2.1.1';

  it('reads ids and step numbers as deep as real roadmaps nest them (17), up to the bound', () => {
    expect(readExplicitId(`**${deepest}** Définir`)).toEqual({ id: deepest, text: 'Définir' });
    expect(readExplicitId(`${deepest}. Définir`)).toEqual({ id: deepest, text: 'Définir' });
    expect(readStep(`Micro-étape ${deepest} : Définir`)).toEqual({ kind: 'micro-step', number: deepest });
    const bound = dotted(MAX_NUMBER_PARTS);
    expect(readExplicitId(`**${bound}** Définir`)?.id).toBe(bound);
    expect(readStep(`Étape ${bound} : Définir`)?.number).toBe(bound);
  });

  it('takes a deeper or longer number for no number at all, never for a part of it', () => {
    const over = dotted(MAX_NUMBER_PARTS + 1);
    expect(readExplicitId(`**${over}** Définir`)).toBeNull();
    expect(readStep(`Étape ${over} : Définir`)).toEqual({ kind: 'step', number: null });
    expect(readStep('Étape 1234567890 : Définir')).toEqual({ kind: 'step', number: null });
    expect(readStep('Étape 1.2. Définir')).toEqual({ kind: 'step', number: '1.2' });
  });

  it('reads any dotted number within the bound whole, and none beyond it', () => {
    const part = fc.stringMatching(/^[0-9]{1,9}$/);
    fc.assert(
      // Every depth as likely: arrays left to fast-check's sizes are mostly short.
      fc.property(
        fc
          .integer({ min: 1, max: MAX_NUMBER_PARTS + 3 })
          .chain((n) => fc.array(part, { minLength: n, maxLength: n })),
        (parts) => {
          const number = parts.join('.');
          const within = parts.length <= MAX_NUMBER_PARTS;
          expect(readExplicitId(`**${number}** text`)?.id ?? null).toBe(within ? number : null);
          expect(readStep(`Étape ${number} : text`)?.number).toBe(within ? number : null);
        },
      ),
    );
  });
});

describe('readTrailingSymbol', () => {
  it('reads the status symbol a text ends with, its variation selector and spacing aside', () => {
    expect(readTrailingSymbol('Étape 1 : Ship ✅')).toEqual({ status: 'done', rest: 14 });
    expect(readTrailingSymbol('Étape 1 : Ship\t✅\uFE0F  ')).toEqual({ status: 'done', rest: 14 });
    expect(readTrailingSymbol('Étape 1 : Ship 🚧')).toEqual({ status: 'in_progress', rest: 14 });
    expect(readTrailingSymbol('Étape 1 : Ship ❌')).toEqual({ status: 'blocked', rest: 14 });
    expect(readTrailingSymbol('✅')).toEqual({ status: 'done', rest: 0 });
  });

  it('reads nothing but a status symbol at the very end', () => {
    for (const text of [
      'Étape 1 : Ship',
      '✅ Étape 1',
      'Ship ✅ later',
      'Ship 😀',
      'Ship ✅\uDC00',
      '',
      ' ',
    ]) {
      expect(readTrailingSymbol(text)).toBeNull();
    }
  });

  it('never throws, and what it reads ends the text before the symbol', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme-composite' }),
        fc.constantFrom('✅', '⏳', '🔲', '⛔️'),
        (text, symbol) => {
          const mark = readTrailingSymbol(`${text} ${symbol} `);
          expect(mark).not.toBeNull();
          expect(mark!.rest).toBeLessThanOrEqual(text.length);
          expect(`${text} ${symbol} `.slice(mark!.rest).trim()).toBe(symbol);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const mark = readTrailingSymbol(text);
        if (mark !== null) expect(mark.rest).toBeLessThan(text.length);
      }),
    );
  });
});

describe('inline metadata', () => {
  it('reads P0–P3 as a word of its own only', () => {
    expect(
      ['P0 urgent', 'urgent (P1)', 'urgent [P2].', '**P3**', 'HTTP2 et P4', 'MP3'].map(readPriority),
    ).toEqual(['P0', 'P1', 'P2', 'P3', null, null]);
  });

  it('reads estimates in minutes, hours, days and weeks', () => {
    expect(readEstimate('tâche (2h)')).toEqual({ raw: '2h', minutes: 120 });
    expect(readEstimate('tâche (1,5 j)')).toEqual({ raw: '1,5 j', minutes: 720 });
    expect(readEstimate('task (3 days)')).toEqual({ raw: '3 days', minutes: 1440 });
    expect(readEstimate('task (1w)')).toEqual({ raw: '1w', minutes: 2400 });
    expect(readEstimate('task (45 min)')).toEqual({ raw: '45 min', minutes: 45 });
    expect(readEstimate('task (see 2h above) (v2)')).toBeNull();
  });

  it('reads #tags outside code spans, once each', () => {
    expect(readTags('Fix #api and #db-migration, again #api; not `#include` nor C# nor #123')).toEqual([
      'api',
      'db-migration',
    ]);
    expect(readTags('no tags')).toBeNull();
  });

  it('reads declared progress in its spellings, and nothing without a colon', () => {
    const claims = [
      'Progression: 100%',
      '*Progression : 45%*',
      '**Progression**: 20%',
      '**Progression: 50%**',
      '_Progression: 30 %_',
      '*Version 1.0 - Progression globale : 72%*',
      'Progress: 12.5%',
    ];
    expect(claims.map(readDeclaredProgress)).toEqual([100, 45, 20, 50, 30, 72, 12.5]);
    expect(readDeclaredProgress('Mettre à jour la progression à 60%')).toBeNull();
  });

  it('normalizes text for ids: case, emphasis, spacing and compatibility forms', () => {
    expect(normalizeForId('  **Définir**   le  `Modèle`\t')).toBe('définir le modèle');
    expect(normalizeForId('ﬁchier')).toBe('fichier');
  });
});

describe('parseFrontMatter', () => {
  it('reads scalars, lists, nested maps, block scalars and comments', () => {
    const yaml = [
      'title: "A \\"quoted\\" title" # comment',
      "single: 'it''s'",
      'count: 12',
      'ratio: -1.5e2',
      'enabled: true',
      'nothing: ~',
      'date: 2025-06-23',
      'flow: [a, "b, c", 3]',
      'items:',
      '- first',
      '- second',
      'people:',
      '  - name: Ana',
      '    role: lead',
      '  - name: Bo',
      'notes: |',
      '  line one',
      '  line two',
      'not a key line',
      '__proto__: polluted',
    ];
    const fm = parseFrontMatter(yaml);
    expect(fm).toEqual({
      title: 'A "quoted" title',
      single: "it's",
      count: 12,
      ratio: -150,
      enabled: true,
      nothing: null,
      date: '2025-06-23',
      flow: ['a', 'b, c', 3],
      items: ['first', 'second'],
      people: [{ name: 'Ana', role: 'lead' }, { name: 'Bo' }],
      notes: 'line one\nline two',
    });
    expect(Object.getPrototypeOf(fm)).toBe(Object.prototype);
  });

  it('survives hostile nesting and arbitrary lines', () => {
    const deep = Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}k${i}:`);
    expect(() => parseFrontMatter(deep)).not.toThrow();
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 40 }), (lines) => {
        const fm = parseFrontMatter(lines);
        expect(fm === null || typeof fm === 'object').toBe(true);
      }),
    );
  });
});
