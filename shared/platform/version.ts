import { embeddingSettings, parseEnv } from '../config.ts';

export interface VersionInfo {
  service: string;
  version: string;
  stage: string;
  embedding: { provider: 'local' | 'openai'; model: string; dimensions: number };
}

/** What is deployed, from the environment alone: no secret, no network (the function is granted nothing). */
export function versionInfo(env: NodeJS.ProcessEnv = process.env): VersionInfo {
  const e = parseEnv(env);
  return {
    // Set from the manifest's service name in both runtimes (Powertools reads it too).
    service: env.POWERTOOLS_SERVICE_NAME ?? 'vector-platform',
    version: e.SERVICE_VERSION,
    stage: e.STAGE,
    embedding: embeddingSettings(e),
  };
}
