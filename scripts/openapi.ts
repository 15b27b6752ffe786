import { writeFile } from 'node:fs/promises';
import { OPENAPI_FILE, openApiJson } from '../infra/openapi.ts';

/** `npm run openapi`: writes docs/openapi.json from the manifest and the schemas. */
await writeFile(new URL(`../${OPENAPI_FILE}`, import.meta.url), openApiJson());
console.log(`wrote ${OPENAPI_FILE}`);
