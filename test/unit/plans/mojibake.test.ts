import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repairMojibake } from '#shared/plans/mojibake.ts';

/** The damage being undone: UTF-8 bytes read back as Windows-1252 (its undefined bytes as C1 controls). */
const damage = (s: string): string => new TextDecoder('windows-1252').decode(Buffer.from(s, 'utf8'));

describe('repairMojibake', () => {
  it('undoes one double encoding, including Windows-1252 punctuation and 4-byte characters', () => {
    expect(repairMojibake('DÃ©finir')).toEqual({ text: 'Définir', outcome: 'repaired' });
    expect(repairMojibake(damage('l’équipe — « état » … 🚀 ✅'))).toEqual({
      text: 'l’équipe — « état » … 🚀 ✅',
      outcome: 'repaired',
    });
  });

  it('undoes a twice-repeated double encoding', () => {
    expect(repairMojibake(damage(damage('Créer')))).toEqual({ text: 'Créer', outcome: 'repaired' });
  });

  it('leaves a line alone when a sequence is cut short, overlong or a surrogate', () => {
    for (const line of ['Ã©tat â€', 'Ã©tat â€ seul', 'overlong à€€ vs Ã©', 'surrogate í\u00a0€ Ã©']) {
      expect(repairMojibake(line)).toEqual({ text: line, outcome: 'ambiguous' });
    }
    // A lead byte alone is ordinary text: nothing looks damaged.
    expect(repairMojibake('Ã la carte')).toBeNull();
  });

  it('reads a letter before typographic punctuation as text, and repairs the rest of the line', () => {
    expect(repairMojibake('Ç’a été fait…» puis le café’s menu')).toBeNull();
    expect(repairMojibake('Ç’a Ã©tÃ© fait')).toEqual({ text: 'Ç’a été fait', outcome: 'repaired' });
    // After Ã, the same punctuation is damage: `Ã»` is a damaged `û`.
    expect(repairMojibake('sÃ»r')).toEqual({ text: 'sûr', outcome: 'repaired' });
  });

  it('round-trips damaged text written with the characters plans use, unless it already looked damaged', () => {
    const alphabet = [...'aZ09 .:-éèêëàâäçîïôöùûüÿœæÉÈÊÀÇÔŒ’“”«»–—…•€°×✅❌☐🔄⏳🚧→📋🚀'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 60 }), (chars) => {
        const original = chars.join('');
        fc.pre(/[^\p{ASCII}]/u.test(original) && repairMojibake(original) === null);
        expect(repairMojibake(damage(original))).toEqual({ text: original, outcome: 'repaired' });
      }),
    );
  });

  it('never throws, and changes a line only by repairing it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (line) => {
        const result = repairMojibake(line);
        if (result !== null && result.outcome === 'ambiguous') expect(result.text).toBe(line);
        if (result !== null && result.outcome === 'repaired')
          expect(result.text.length).toBeLessThan(line.length);
      }),
    );
  });

  it('never changes ordinary French text', () => {
    const word = fc
      .array(fc.constantFrom(...'abcdeéèêëàâçîïôùûüÉÈÀÇÔ’-'), { minLength: 1, maxLength: 12 })
      .map((cs) => cs.join(''));
    const sentence = fc.array(fc.oneof(word, fc.constantFrom('«', '»', '–', '…', '°', '1.2')), {
      maxLength: 20,
    });
    fc.assert(
      fc.property(sentence, (words) => {
        const text = words.join(' ');
        const result = repairMojibake(text);
        expect(result === null || result.text === text).toBe(true);
      }),
    );
  });
});
