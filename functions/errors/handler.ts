import { errorCatalogueReader } from '#shared/error-catalogue/clients.ts';
import {
  ErrorQuerySchema,
  FingerprintPathSchema,
  SimilarQuerySchema,
} from '#shared/error-catalogue/model.ts';
import { NotFoundError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http.ts';
import { parseWith } from '#shared/validation.ts';

/** The error catalogue under `/api/v1/errors`: list, one entry, similar past errors. Each route is one case. */
export const handler = httpHandler({}, async ({ event, config }) => {
  const catalogue = errorCatalogueReader(config);
  const query = event.queryStringParameters ?? {};
  const fingerprint = () => parseWith(FingerprintPathSchema, event.pathParameters ?? {}, 'path').fingerprint;
  switch (event.routeKey) {
    case 'GET /api/v1/errors':
      return catalogue.list(parseWith(ErrorQuerySchema, query, 'query'));
    case 'GET /api/v1/errors/{fingerprint}':
      return catalogue.get(fingerprint());
    case 'GET /api/v1/errors/{fingerprint}/similar': {
      const { limit } = parseWith(SimilarQuerySchema, query, 'query');
      return catalogue.similar(fingerprint(), limit);
    }
    default:
      // The manifest routes nothing else here (ROUTE_ROLES refuses undeclared routes before this).
      throw new NotFoundError(`no route ${event.routeKey}`);
  }
});
