import { startQdrantServer } from '#local/qdrant/server.ts';

/**
 * The embedded Qdrant-compatible server alone in its own process, for the migration benchmark:
 * the local runtime then uses it as an external Qdrant (`QDRANT_URL`), so that the runtime's peak
 * RSS holds the workers, the planner and the emulators but not the stored vectors, and Qdrant's
 * own peak is read separately. Usage: `node bench/migration-qdrant.ts <dataDir>`; prints
 * `QDRANT <url>` once it listens, stops on SIGTERM.
 */

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: node bench/migration-qdrant.ts <dataDir>\n');
  process.exit(2);
}
const server = await startQdrantServer({ dataDir, port: 0 });
process.stdout.write(`QDRANT ${server.url}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
