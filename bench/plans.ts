import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startLocalRuntime } from '#local/runtime.ts';
import { parsePlan } from '#shared/plans/parser.ts';

/**
 * Plans: (1) parsing throughput on a generated ~10 MB plan that mixes the formats real plans use
 * (front matter, deep headings, nested checkboxes with explicit ids, status symbols, steps,
 * progress lines, fences, tables, comments, quotes), median of several parses of its bytes
 * (decoding included) after a warm-up; target ≥ 20 MB/s. (2) When the real plans are beside the
 * checkout (`../shared/fixtures/email-sender-1/plans`), their parsing alone, then every one
 * indexed end to end through an in-process local runtime (HTTP → handler → parser → offline
 * embedder → embedded Qdrant → state), then indexed again unchanged, which must embed nothing.
 */

const TARGET_BYTES = 10 * 1024 * 1024;
const PARSE_RUNS = 7;
const TARGET_MB_PER_S = 20;
const REAL_PLANS = fileURLToPath(new URL('../../shared/fixtures/email-sender-1/plans', import.meta.url));

const WORDS = (
  'configure|relay|smtp|queue|retry|policy|bounce|template|dashboard|metrics|vector|qdrant|index|' +
  'migrate|export|collection|alias|verify|rollback|schema|gestionnaire|erreurs|tâche|données|' +
  'déployer|vérifier|définir|pipeline|manager|config|health|event|bus|archive|replay|lambda'
).split('|');
const SYMBOLS = ['✅', '🚧', '⏳', '❌', '☐', '☑'];

/** Deterministic markdown plan of about `bytes` bytes (LCG-seeded: every run parses the same plan). */
export function generatePlan(bytes: number, seed = 7): string {
  let state = seed >>> 0;
  const next = (n: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state >>> 8) % n;
  };
  const words = (min: number, spread: number) =>
    Array.from({ length: min + next(spread) }, () => WORDS[next(WORDS.length)]).join(' ');
  const parts: string[] = [
    '---\ntitle: Generated plan\nversion: 3\ntags: [bench, plans]\n---\n',
    '# Generated plan\n',
  ];
  let size = parts.join('').length;
  const push = (text: string) => {
    parts.push(text);
    size += text.length;
  };
  for (let phase = 1; size < bytes; phase++) {
    push(`\n## Phase ${phase}: ${words(2, 4)}\n\n**Progression: ${next(101)}%**\n\n`);
    for (let section = 1; section <= 4 && size < bytes; section++) {
      push(`### ${phase}.${section} ${words(2, 5)}\n\n`);
      if (next(3) === 0) push(`Progression globale : ${next(101)} %\n\n`);
      for (let item = 1; item <= 6; item++) {
        const id = `${phase}.${section}.${item}`;
        const box = next(4) === 0 ? 'x' : ' ';
        const extra = `${next(5) === 0 ? ` P${next(4)}` : ''}${next(6) === 0 ? ` (${1 + next(8)}h)` : ''}${next(7) === 0 ? ` #${WORDS[next(WORDS.length)]}` : ''}`;
        push(`- [${box}] **${id}** ${words(4, 8)}${extra}\n`);
        for (let sub = 1; sub <= next(4); sub++) {
          push(`  - [${next(2) === 0 ? 'x' : ' '}] ${id}.${sub}. ${words(3, 6)}\n`);
          if (next(5) === 0) push(`\t\t- [ ] ${words(3, 5)}\n`);
        }
      }
      switch (next(6)) {
        case 0:
          push(
            `\n\`\`\`go\nfunc ${WORDS[next(WORDS.length)]}() error {\n\t// - [ ] not a task\n\treturn nil\n}\n\`\`\`\n\n`,
          );
          break;
        case 1:
          push(
            `\n| step | owner | state |\n|---|---|---|\n| - [ ] ${words(2, 2)} | team | ${SYMBOLS[next(SYMBOLS.length)]} |\n\n`,
          );
          break;
        case 2:
          push(
            `\n${SYMBOLS[next(SYMBOLS.length)]} ${words(3, 5)}\n- ${SYMBOLS[next(SYMBOLS.length)]} ${words(3, 5)}\n\n`,
          );
          break;
        case 3:
          push(`\n- Étape ${section} : ${words(3, 4)}\n  - Micro-étape ${section}.1 : ${words(3, 4)}\n\n`);
          break;
        case 4:
          push(`\n<!--\n- [ ] commented out ${words(2, 3)}\n-->\n> - [ ] quoted ${words(3, 4)}\n\n`);
          break;
        default:
          push(`\n${words(12, 20)}.\n\n`);
      }
    }
  }
  return parts.join('');
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function benchParse(): Record<string, unknown> {
  const text = generatePlan(TARGET_BYTES);
  const bytes = Buffer.from(text, 'utf8');
  const mb = bytes.byteLength / (1024 * 1024);
  const warm = parsePlan(bytes, { planId: 'bench/generated.md' });
  const rates: number[] = [];
  for (let run = 0; run < PARSE_RUNS; run++) {
    const t0 = performance.now();
    parsePlan(bytes, { planId: 'bench/generated.md' });
    rates.push(mb / ((performance.now() - t0) / 1000));
  }
  const fromString: number[] = [];
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    parsePlan(text, { planId: 'bench/generated.md' });
    fromString.push(mb / ((performance.now() - t0) / 1000));
  }
  const mbPerSecond = median(rates);
  return {
    bytes: bytes.byteLength,
    lines: warm.lineCount,
    tasks: warm.tasks.length,
    headings: warm.headings.length,
    declaredProgress: warm.declaredProgress.length,
    runs: PARSE_RUNS,
    mbPerSecondMedian: round(mbPerSecond),
    mbPerSecondMin: round(Math.min(...rates)),
    mbPerSecondMax: round(Math.max(...rates)),
    mbPerSecondFromStringMedian: round(median(fromString)),
    msPerParseMedian: round((mb / mbPerSecond) * 1000),
    targetMbPerSecond: TARGET_MB_PER_S,
    meetsTarget: mbPerSecond >= TARGET_MB_PER_S,
  };
}

interface Report {
  tasks: { total: number; added: number; changed: number; removed: number; unchanged: number };
  embedded: number;
}

async function benchIndexRealPlans(): Promise<Record<string, unknown>> {
  const files = (await readdir(REAL_PLANS)).filter((f) => f.endsWith('.md')).sort();
  const dataDir = await mkdtemp(join(tmpdir(), 'vp-bench-plans-'));
  // Limits off: the bench posts as fast as the runtime takes plans.
  const runtime = await startLocalRuntime({ dataDir, port: 0, quiet: true, limits: false });
  const authorization = `Bearer ${await runtime.issueToken({ groups: ['user'] })}`;
  try {
    const post = async (planId: string, body: Uint8Array) => {
      const t0 = performance.now();
      const res = await fetch(`${runtime.apiUrl}/api/v1/plans?planId=${encodeURIComponent(planId)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', authorization },
        body,
      });
      const report = (await res.json()) as Report;
      if (res.status !== 200 && res.status !== 201)
        throw new Error(`${planId}: HTTP ${res.status} ${JSON.stringify(report)}`);
      return { ms: performance.now() - t0, report };
    };
    const contents = await Promise.all(files.map((f) => readFile(join(REAL_PLANS, f))));
    // Their parsing alone, for comparison with the generated plan (median of runs of 20 passes).
    const realBytes = contents.reduce((sum, c) => sum + c.byteLength, 0);
    const realRates: number[] = [];
    for (let run = 0; run < PARSE_RUNS; run++) {
      const t0 = performance.now();
      for (let pass = 0; pass < 20; pass++)
        for (const c of contents) parsePlan(c, { planId: 'bench/real.md' });
      realRates.push((20 * realBytes) / (1024 * 1024) / ((performance.now() - t0) / 1000));
    }
    // Warm-up on a throwaway id: module loading and the collection's creation are not per-plan costs.
    await post('bench/warm-up.md', contents[0]!);

    const perPlan: Array<Record<string, unknown>> = [];
    let tasks = 0;
    let totalMs = 0;
    for (const [i, file] of files.entries()) {
      const { ms, report } = await post(`plans/${file}`, contents[i]!);
      tasks += report.tasks.total;
      totalMs += ms;
      perPlan.push({
        plan: file,
        bytes: contents[i]!.byteLength,
        tasks: report.tasks.total,
        embedded: report.embedded,
        ms: round(ms),
      });
    }
    let unchangedMs = 0;
    let reEmbedded = 0;
    let unchangedTasks = 0;
    for (const [i, file] of files.entries()) {
      const { ms, report } = await post(`plans/${file}`, contents[i]!);
      unchangedMs += ms;
      reEmbedded += report.embedded;
      unchangedTasks += report.tasks.unchanged;
    }
    return {
      plans: files.length,
      bytes: realBytes,
      parseMbPerSecondMedian: round(median(realRates)),
      tasks,
      totalMs: round(totalMs),
      tasksPerSecond: round(tasks / (totalMs / 1000)),
      msPerPlanMean: round(totalMs / files.length),
      perPlan,
      reindexUnchanged: {
        msPerPlanMean: round(unchangedMs / files.length),
        embedded: reEmbedded,
        unchanged: unchangedTasks,
      },
    };
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchPlans(): Promise<Record<string, unknown>> {
  const parse = benchParse();
  const index = existsSync(REAL_PLANS)
    ? await benchIndexRealPlans()
    : { skipped: `no real plans at ${REAL_PLANS} (they live beside the checkout)` };
  return { parse, indexRealPlans: index, node: process.version };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${JSON.stringify(await benchPlans(), null, 2)}\n`);
}
