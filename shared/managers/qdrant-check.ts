import type { Config } from '../config.ts';
import { getQdrantClient } from '../vectors/clients.ts';
import type { Check } from './contract.ts';
import { check } from './contract-handler.ts';

/**
 * Qdrant answers (it lists its collections): the health check of the managers that read or write
 * vectors. Its own module, so that only their contract functions bundle the Qdrant client.
 */
export function qdrantCheck(app: Config): Promise<Check> {
  return check('qdrant', async () => {
    await getQdrantClient(app.qdrant).getCollections();
  });
}
