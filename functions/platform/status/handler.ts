import { HttpResult, httpHandler } from '#shared/http.ts';
import { platformChecks, runChecks } from '#shared/platform/status.ts';

/** GET /api/v1/status: readiness of every dependency; 503 with the same body when one fails. */
export const handler = httpHandler({}, async ({ config }) => {
  const report = await runChecks(platformChecks(config));
  return report.status === 'ok' ? report : new HttpResult(503, report);
});
