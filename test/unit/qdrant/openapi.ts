import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/**
 * Validators built from Qdrant's OpenAPI 3.0 document (read from ../shared/reference, never
 * copied): request and response bodies of an exchange are checked against the schemas of the
 * operation they belong to. OpenAPI's `nullable` becomes a JSON Schema `null` alternative.
 */

export const SPEC_PATH = new URL('../../../../shared/reference/qdrant-openapi.json', import.meta.url)
  .pathname;

export interface Exchange {
  method: string;
  /** Path of the request, without the query string. */
  path: string;
  status: number;
  requestBody: unknown;
  responseBody: unknown;
}

/**
 * Records the Qdrant client's exchanges with the server at `origin()` by wrapping the global
 * fetch (the client resolves `fetch` at each call). `restore` puts the original back.
 */
export function recordExchanges(origin: () => string): { exchanges: Exchange[]; restore: () => void } {
  const exchanges: Exchange[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await realFetch(input, init);
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    // Only what the Qdrant client sends (tests also send deliberately odd raw requests).
    const fromClient = new Headers(init?.headers).get('user-agent')?.startsWith('qdrant-js/') ?? false;
    if (fromClient && url.origin === new URL(origin()).origin) {
      const text = await response.clone().text();
      const isJson = response.headers.get('content-type')?.includes('application/json') ?? false;
      exchanges.push({
        method: init?.method ?? 'GET',
        path: url.pathname,
        status: response.status,
        requestBody: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
        responseBody: isJson ? JSON.parse(text) : text,
      });
    }
    return response;
  };
  return {
    exchanges,
    restore: () => {
      globalThis.fetch = realFetch;
    },
  };
}

interface Operation {
  requestBody?: { content?: { 'application/json'?: { schema?: unknown } } };
  responses: Record<string, { content?: { 'application/json'?: { schema?: unknown } } }>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** OpenAPI 3.0 schema → JSON Schema (draft-07 as Ajv reads it). */
function convert(node: Json): Json {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable' || key === 'example') continue;
    out[key] = convert(value);
  }
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
  const meaningful = Object.keys(out).filter((key) => key !== 'description' && key !== 'default');
  if (meaningful.length === 0) return { type: 'null' };
  return { anyOf: [out, { type: 'null' }] };
}

const isInteger = (value: number) => Number.isInteger(value);
const NUMBER_FORMATS: Record<string, (value: number) => boolean> = {
  float: Number.isFinite,
  double: Number.isFinite,
  int64: isInteger,
  uint: (value) => isInteger(value) && value >= 0,
  uint8: (value) => isInteger(value) && value >= 0 && value < 2 ** 8,
  uint32: (value) => isInteger(value) && value >= 0 && value < 2 ** 32,
  uint64: (value) => isInteger(value) && value >= 0,
};

export class Contract {
  private readonly paths: Record<string, Record<string, Operation>>;
  private readonly ajv: Ajv;
  private readonly cache = new Map<unknown, ValidateFunction>();

  constructor(specPath = SPEC_PATH) {
    const spec = JSON.parse(readFileSync(specPath, 'utf8')) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Json };
    };
    this.paths = spec.paths;
    this.ajv = new Ajv({ strict: false, allErrors: true });
    const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;
    addFormats(this.ajv);
    for (const [name, validate] of Object.entries(NUMBER_FORMATS)) {
      this.ajv.addFormat(name, { type: 'number', validate });
    }
    this.ajv.addFormat('partial-date-time', true);
    this.ajv.addSchema({ $id: 'qdrant', components: { schemas: convert(spec.components.schemas) } });
  }

  /** The operation for a concrete method and path (literal segments win over parameters). */
  operation(method: string, path: string): { template: string; operation: Operation } | undefined {
    const segments = path.split('/').filter(Boolean);
    let best: { template: string; operation: Operation; literals: number } | undefined;
    for (const [template, operations] of Object.entries(this.paths)) {
      const operation = operations[method.toLowerCase()];
      if (operation === undefined) continue;
      const parts = template.split('/').filter(Boolean);
      if (parts.length !== segments.length) continue;
      if (!parts.every((part, i) => part.startsWith('{') || part === segments[i])) continue;
      const literals = parts.filter((part) => !part.startsWith('{')).length;
      if (best === undefined || literals > best.literals) best = { template, operation, literals };
    }
    return best;
  }

  private validator(schema: unknown): ValidateFunction {
    let validate = this.cache.get(schema);
    if (validate === undefined) {
      // Refs inside the operation point at #/components/schemas of the registered document.
      const rebased = JSON.parse(
        JSON.stringify(convert(schema as Json)).replaceAll('"#/components', '"qdrant#/components'),
      );
      validate = this.ajv.compile(rebased);
      this.cache.set(schema, validate);
    }
    return validate;
  }

  /** Problems of one exchange: its answer, and its request when it was accepted. */
  check(exchange: Exchange): string[] {
    const found = this.operation(exchange.method, exchange.path);
    const where = `${exchange.method} ${exchange.path} → ${exchange.status}`;
    if (found === undefined) return [`${where}: no such operation in the spec`];
    const problems: string[] = [];
    const requestSchema = found.operation.requestBody?.content?.['application/json']?.schema;
    // A refused request may be malformed on purpose; an accepted one must conform.
    const accepted = exchange.status >= 200 && exchange.status < 300;
    if (requestSchema !== undefined && exchange.requestBody !== undefined && accepted) {
      const validate = this.validator(requestSchema);
      if (!validate(exchange.requestBody)) {
        problems.push(`${where}: request body: ${this.ajv.errorsText(validate.errors)}`);
      }
    }
    const { responses } = found.operation;
    const family = `${String(exchange.status)[0]}XX`;
    const response = responses[String(exchange.status)] ?? responses[family] ?? responses.default;
    const responseSchema = response?.content?.['application/json']?.schema;
    if (response === undefined) problems.push(`${where}: status not documented`);
    else if (responseSchema !== undefined) {
      const validate = this.validator(responseSchema);
      if (!validate(exchange.responseBody)) {
        problems.push(`${where}: response body: ${this.ajv.errorsText(validate.errors)}`);
      }
    }
    return problems;
  }
}
