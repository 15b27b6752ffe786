import { type FieldIssue, ValidationError } from '../errors.ts';

/**
 * Input rules shared by every embedder, so that a text accepted offline is accepted by OpenAI too.
 * OpenAI rejects empty inputs and inputs over 8192 tokens (every embedding model).
 */
export const MAX_INPUT_TOKENS = 8192;

/** Issues listed in one ValidationError; the message still counts every bad input. */
const MAX_ISSUES = 100;

/**
 * Token count estimate without a tokenizer: UTF-8 bytes / 3. English BPE averages about 4 bytes
 * per token, so this over-counts ordinary prose; text dense in digits or symbols can exceed it,
 * in which case OpenAI's own 400 answer still names the problem.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 3);
}

/**
 * Throws one ValidationError naming every bad input as `texts.<i>`: not a string, empty or
 * whitespace-only, or longer than `maxInputTokens` (estimated). Runs before any work or call.
 */
export function validateTexts(
  texts: unknown,
  maxInputTokens: number = MAX_INPUT_TOKENS,
): asserts texts is string[] {
  if (!Array.isArray(texts)) throw ValidationError.field('texts', 'must be an array of strings');
  const issues: FieldIssue[] = [];
  let bad = 0;
  for (let i = 0; i < texts.length; i++) {
    const reason = invalidReason(texts[i], maxInputTokens);
    if (reason === undefined) continue;
    bad++;
    if (issues.length < MAX_ISSUES) issues.push({ field: `texts.${i}`, reason });
  }
  if (bad === 0) return;
  const first = issues[0]!;
  const more = bad > 1 ? ` (and ${bad - 1} more)` : '';
  throw new ValidationError(`${first.field}: ${first.reason}${more}`, issues);
}

function invalidReason(text: unknown, maxInputTokens: number): string | undefined {
  if (typeof text !== 'string') return 'must be a string';
  if (text.trim() === '') return 'must not be empty or whitespace only';
  // Cheap bound first: a string of n UTF-16 units is at most 3n UTF-8 bytes, i.e. at most n tokens here.
  if (text.length > maxInputTokens) {
    const tokens = estimateTokens(text);
    if (tokens > maxInputTokens)
      return `must be at most ${maxInputTokens} tokens (about ${tokens} estimated)`;
  }
  return undefined;
}
