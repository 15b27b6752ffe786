/** The embedder port: text in, one vector per text out, same order. */
export interface Embedder {
  /** Model name recorded with each collection written through it. */
  readonly model: string;
  readonly dimensions: number;
  /** Embeds every text; throws ValidationError naming the index of an empty or over-long input. */
  embed(texts: string[]): Promise<number[][]>;
}
