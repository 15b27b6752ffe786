import {
  DOCS_ASSETS,
  DOCS_CONTENT_SECURITY_POLICY,
  DOCS_PAGE_HTML,
  DocsAssetPathSchema,
} from '#shared/api/docs-page.ts';
import { type FileResponse, fileHandler } from '#shared/api/file-handler.ts';
import { readBundledFile } from '#shared/bundled-files.ts';
import { NotFoundError } from '#shared/errors.ts';
import { parseWith } from '#shared/validation.ts';

/**
 * GET /api/v1/docs: the documentation page (Swagger UI, offline); GET /api/v1/docs/{file}: its
 * assets. The page sets its own content security policy; assets are the same for every caller,
 * so they may be cached (an hour: a deploy may change them under the same name).
 */
const loaded = new Map<string, string | Buffer>();

function assetBody(file: string): string | Buffer {
  const asset = Object.hasOwn(DOCS_ASSETS, file) ? DOCS_ASSETS[file] : undefined;
  if (!asset) {
    throw new NotFoundError(`no documentation asset "${file}"`, [
      { field: 'path.file', reason: 'no such asset' },
    ]);
  }
  let body = loaded.get(file);
  if (body === undefined) {
    body = 'text' in asset.source ? asset.source.text : readBundledFile(asset.source.package);
    // Text files are answered as text, images as base64.
    if (Buffer.isBuffer(body) && !asset.contentType.startsWith('image/')) body = body.toString('utf8');
    loaded.set(file, body);
  }
  return body;
}

export const handler = fileHandler(async (event): Promise<FileResponse> => {
  if (event.pathParameters?.file === undefined) {
    return {
      contentType: 'text/html; charset=utf-8',
      body: DOCS_PAGE_HTML,
      headers: { 'content-security-policy': DOCS_CONTENT_SECURITY_POLICY },
    };
  }
  const { file } = parseWith(DocsAssetPathSchema, event.pathParameters, 'path');
  const body = assetBody(file);
  return {
    contentType: DOCS_ASSETS[file]!.contentType,
    body,
    headers: { 'cache-control': 'public, max-age=3600' },
  };
});
