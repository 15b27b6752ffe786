import { type FileResponse, fileHandler } from '#shared/api/file-handler.ts';
import {
  STATUS_PAGE_ASSET_CACHE,
  STATUS_PAGE_ASSETS,
  STATUS_PAGE_CONTENT_SECURITY_POLICY,
  STATUS_PAGE_HTML,
  StatusPageAssetPathSchema,
} from '#shared/api/status-page.ts';
import { NotFoundError } from '#shared/errors.ts';
import { parseWith } from '#shared/validation.ts';

/**
 * GET /api/v1/status-page: the status page; GET /api/v1/status-page/{file}: its script and style
 * sheet. Public: the page holds no data, its script reads the API with the reader's own token.
 * The page sets its own content security policy and is never cached (it names the current
 * assets); the assets are named by their content's hash, so they are cached for good.
 */
export const handler = fileHandler(async (event): Promise<FileResponse> => {
  if (event.pathParameters?.file === undefined) {
    return {
      contentType: 'text/html; charset=utf-8',
      body: STATUS_PAGE_HTML,
      headers: {
        'content-security-policy': STATUS_PAGE_CONTENT_SECURITY_POLICY,
        'cache-control': 'no-store',
      },
    };
  }
  const { file } = parseWith(StatusPageAssetPathSchema, event.pathParameters, 'path');
  const asset = Object.hasOwn(STATUS_PAGE_ASSETS, file) ? STATUS_PAGE_ASSETS[file] : undefined;
  if (!asset) {
    throw new NotFoundError(`no status page asset "${file}"`, [
      { field: 'path.file', reason: 'no such asset' },
    ]);
  }
  return {
    contentType: asset.contentType,
    body: asset.text,
    headers: { 'cache-control': STATUS_PAGE_ASSET_CACHE },
  };
});
