import { managerDeclarations } from '#infra/managers.ts';
import { fileHandler } from '#shared/api/file-handler.ts';
import { getConfig } from '#shared/config.ts';
import { coordinatorOf } from '#shared/managers/clients.ts';
import { renderPrometheus } from '#shared/managers/prometheus.ts';

const declarations = managerDeclarations();

/**
 * GET /api/v1/metrics: every manager's figures in the Prometheus text format, for a user's
 * Prometheus to scrape (with a reader token). A manager that does not answer in time is reported
 * by `vector_platform_manager_scrape_errors`, not by failing the scrape.
 */
export const handler = fileHandler(async () => {
  const coordinator = await coordinatorOf(await getConfig(), declarations);
  const summaries = await coordinator.list();
  const figures = await Promise.all(
    summaries.map(async (summary) => ({
      summary,
      metrics: await coordinator.metrics(summary.id).catch(() => undefined),
    })),
  );
  const { text, contentType } = await renderPrometheus(figures);
  return { contentType, body: text, headers: { 'cache-control': 'no-store' } };
});
