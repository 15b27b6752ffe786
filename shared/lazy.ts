/** `build`, called once on first use; the same value after (`undefined` included). */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/**
 * `values` plus one property per builder, built on its first read: a service's adapters, of which
 * a function builds only those its operations touch (it is granted, and given the variables of,
 * only those).
 */
export function withLazy<V extends object, L extends object>(
  values: V,
  builders: { [K in keyof L]: () => L[K] },
): V & L {
  const out = { ...values } as V & L;
  for (const key of Object.keys(builders) as Array<keyof L & string>) {
    Object.defineProperty(out, key, { get: once(builders[key]), enumerable: true });
  }
  return out;
}
