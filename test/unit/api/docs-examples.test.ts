import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { manifest } from '#infra/manifest.ts';
import { renderPrometheus } from '#shared/managers/prometheus.ts';
import { MANAGER_CONFIG, MANAGER_IDS } from '#shared/managers/specs.ts';

/**
 * Every example of docs/api.md against the OpenAPI document: each `curl` names a route that exists
 * and sends a body its request schema accepts; each JSON block is an answer of the route it is
 * documented under (any of its responses' schemas), or, outside a route, an error; ```json request
 * blocks are request bodies. The roles table must be the manifest's, the table of the managers'
 * configurations their schemas' fields and defaults, the Prometheus example and metrics what
 * `renderPrometheus` writes.
 */

const ROOT = join(import.meta.dirname, '../../..');
const API = '/api/v1';

type Json = Record<string, unknown>;
type Operation = {
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, Json>;
};

const markdown = await readFile(join(ROOT, 'docs/api.md'), 'utf8');
const doc = JSON.parse(await readFile(join(ROOT, 'docs/openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(doc, 'openapi.json');

/** A schema of the document, its `#/components/…` refs resolved against the document. */
function check(schema: Json, value: unknown): string | undefined {
  const rebased = JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'),
  );
  const validate = ajv.compile(rebased);
  return validate(value) ? undefined : ajv.errorsText(validate.errors, { separator: '\n' });
}

/** The route template matching a concrete path (literal segments beat parameters). */
function routeOf(method: string, path: string): { template: string; op: Operation } | undefined {
  const candidates = Object.entries(doc.paths)
    .filter(([template, item]) => {
      if (!item[method.toLowerCase()]) return false;
      return new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path);
    })
    .sort(([a], [b]) => a.split('{').length - b.split('{').length);
  const found = candidates[0];
  return found ? { template: found[0], op: found[1][method.toLowerCase()]! } : undefined;
}

interface Block {
  lang: string;
  text: string;
  line: number;
  /** `GET /api/v1/status` of the `###` heading it is under, if any. */
  route?: { method: string; path: string };
}

function blocks(): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  let route: Block['route'];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heading = /^(#{2,3}) (.*)$/.exec(line);
    if (heading) {
      const m = /^`(GET|POST|PUT|PATCH|DELETE) ([^`?]+)/.exec(heading[2]!);
      route = heading[1] === '###' && m ? { method: m[1]!, path: `${API}${m[2]}` } : undefined;
      continue;
    }
    const fence = /^```(\S.*)$/.exec(line);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    out.push({ lang: fence[1]!, text: body.join('\n'), line: start + 1, ...(route ? { route } : {}) });
  }
  return out;
}

/** Shell words of each command of a block (quotes removed, `\\` line continuations joined). */
function commands(text: string): string[][] {
  const out: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const end = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && text[i + 1] === '\n') i++;
    else if (c === '#' && word === undefined) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '\n') {
      end();
      if (words.length > 0) out.push(words);
      words = [];
    } else if (c === ' ' || c === '\t') end();
    else word = (word ?? '') + c;
  }
  end();
  if (words.length > 0) out.push(words);
  return out;
}

interface Curl {
  method: string;
  path: string;
  headers: Record<string, string>;
  data?: string;
}

function parseCurl(words: string[]): Curl {
  let method: string | undefined;
  let url = '';
  let data: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-X') method = words[++i];
    else if (w === '-H' && words[i + 1] === '$AUTH') headers.authorization = words[++i]!;
    else if (w === '-H') {
      const [name, ...value] = words[++i]!.split(':');
      headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (w === '-d' || w === '--data-binary') data = words[++i];
    else if (w.startsWith('$API')) url = w;
  }
  const path = url.replace('$API', API).split('?')[0]!;
  return {
    method: method ?? (data === undefined ? 'GET' : 'POST'),
    path,
    headers,
    ...(data !== undefined ? { data } : {}),
  };
}

const all = blocks();
const curls = all
  .filter((b) => b.lang === 'sh')
  .flatMap((b) => commands(b.text).map((words) => ({ words, line: b.line })))
  .filter(({ words }) => words[0] === 'curl')
  .map(({ words, line }) => ({ ...parseCurl(words), line }));
const jsons = all.filter((b) => b.lang === 'json' || b.lang === 'json request');

describe('docs/api.md examples against the OpenAPI document', () => {
  it('finds the examples', () => {
    expect(curls.length).toBeGreaterThan(10);
    expect(jsons.length).toBeGreaterThan(10);
  });

  it.each(curls.map((c) => [`line ${c.line}: ${c.method} ${c.path}`, c] as const))('%s', (_name, curl) => {
    const route = routeOf(curl.method, curl.path);
    expect(route, 'a route of the document').toBeDefined();
    const secured = (route!.op as { security?: unknown[] }).security?.length ?? 0;
    if (secured > 0) expect(curl.headers.authorization ?? '', 'sends the token').toMatch(/^Bearer |\$AUTH/);
    if (curl.data === undefined) return;
    const type = (curl.headers['content-type'] ?? '').split(';')[0]!;
    const content = route!.op.requestBody?.content[type];
    expect(content, `the route takes ${type}`).toBeDefined();
    if (type !== 'application/json' || curl.data.startsWith('@')) return;
    expect(check(content!.schema, JSON.parse(curl.data))).toBeUndefined();
  });

  it.each(
    jsons.map(
      (b) => [`line ${b.line}: ${b.route ? `${b.route.method} ${b.route.path}` : 'an error'}`, b] as const,
    ),
  )('%s', (_name, block) => {
    const value: unknown = JSON.parse(block.text);
    if (!block.route) {
      const anError = {
        anyOf: [{ $ref: '#/components/schemas/ErrorBody' }, { $ref: '#/components/schemas/GatewayMessage' }],
      };
      expect(check(anError, value)).toBeUndefined();
      return;
    }
    const route = routeOf(block.route.method, block.route.path);
    expect(route, `${block.route.method} ${block.route.path} is a route`).toBeDefined();
    if (block.lang === 'json request') {
      expect(check(route!.op.requestBody!.content['application/json']!.schema, value)).toBeUndefined();
      return;
    }
    const schemas = Object.values(route!.op.responses).flatMap((r) => {
      const schema = (r.content as Record<string, { schema: Json }> | undefined)?.['application/json']
        ?.schema;
      return schema ? [schema] : [];
    });
    expect(check({ anyOf: schemas }, value)).toBeUndefined();
  });

  it('lists the roles of the routes as the manifest declares them', () => {
    const table = markdown.slice(markdown.indexOf('| role | routes |'));
    const rows = table.split('\n\n')[0]!.split('\n').slice(2);
    const documented = rows.flatMap((row) => {
      const [, role, routes] = row.split('|').map((c) => c.trim());
      return [...routes!.matchAll(/`(GET|POST|PUT|PATCH|DELETE) ([^`]+)`/g)].map(
        (m) => `${m[1]} ${API}${m[2]} ${role!.replaceAll('`', '')}`,
      );
    });
    expect(documented.sort()).toEqual(manifest.routes.map((r) => `${r.method} ${r.path} ${r.role}`).sort());
  });

  it("lists every manager's configuration fields with their defaults", () => {
    const table = markdown.slice(markdown.indexOf('| manager | field | default | meaning |'));
    const rows = table.split('\n\n')[0]!.split('\n').slice(2);
    const documented: Record<string, Record<string, string>> = {};
    for (const row of rows) {
      const [, manager, fields, defaults] = row.split('|').map((c) => c.trim());
      const names = [...fields!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const values = defaults!.split(',').map((v) => v.trim());
      expect(values.length, row).toBe(names.length);
      documented[manager!.replaceAll('`', '')] = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
    }
    const declared = Object.fromEntries(
      MANAGER_IDS.map((id) => [
        id,
        // A list's default is written as JSON (`[]`).
        Object.fromEntries(
          Object.entries(MANAGER_CONFIG[id].parse({})).map(([k, v]) => [
            k,
            Array.isArray(v) ? JSON.stringify(v) : String(v),
          ]),
        ),
      ]),
    );
    expect(documented).toEqual(declared);
  });

  it('shows Prometheus families, help and labels as the exposition renders them', async () => {
    const { text } = await renderPrometheus([
      {
        summary: {
          id: 'roadmap',
          name: 'Roadmap',
          description: '',
          stoppable: true,
          status: { managerId: 'roadmap', state: 'running', since: null, by: 'deployment' },
        },
        metrics: {
          managerId: 'roadmap',
          window: { start: '2026-12-06T21:00:00.000Z', end: '2026-12-06T21:15:00.000Z' },
          functions: {
            searchTasks: { invocations: 1, errors: 0, throttles: 0, durationMs: { p50: 1, p95: 2, p99: 3 } },
          },
          totals: { invocations: 1, errors: 0, throttles: 0 },
          gauges: [{ name: 'roadmap_plans', help: 'Indexed plans', value: 3 }],
        },
      },
    ]);
    /** `# HELP` and `# TYPE` lines as they are; a sample as its family and label names. */
    const shapes = (exposition: string) =>
      new Set(
        exposition
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            if (line.startsWith('#')) return line;
            const m = /^(\w+)(?:\{(.*)\})? \S+$/.exec(line);
            const labels = [...(m?.[2] ?? '').matchAll(/(\w+)="/g)].map((l) => l[1]).join(',');
            return `${m?.[1]}{${labels}}`;
          }),
      );
    const rendered = shapes(text);
    const section = markdown.slice(markdown.indexOf('## Metrics (Prometheus)'));
    const example = all.find(
      (b) => b.lang === 'text' && markdown.indexOf(b.text) > markdown.indexOf(section),
    )!;
    expect(example, 'the exposition example').toBeDefined();
    for (const shape of shapes(example.text)) expect(rendered, shape).toContain(shape);
    const families = new Set([...text.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
    const table = section.slice(section.indexOf('| metric | labels | what |')).split('\n\n')[0]!;
    const named = [...table.matchAll(/`(vector_platform_[a-z_]+|_[a-z_]+)`/g)].map((m) => m[1]!);
    let last = '';
    for (const name of named) {
      // `vector_platform_function_invocations`, `_errors`: a suffix of the name before it.
      const full = name.startsWith('_') ? last.replace(/_[a-z]+$/, name) : name;
      last = full;
      expect(families, full).toContain(full);
    }
  });
});
