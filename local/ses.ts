import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { LOCAL_ACCOUNT_ID, type LocalIam } from './iam.ts';
import { closeNow, listen } from './listen.ts';

/**
 * Local SES v2: `SendEmail` with raw content (`POST /v2/email/outbound-emails`, REST-JSON, as
 * `@aws-sdk/client-sesv2` sends it), allowed by the caller's grants (`ses:SendEmail` on the sender's
 * identity), each message written as it would be sent, an RFC 5322 `.eml` file under `outboxDir`,
 * which any mail client opens. The same SDK call as in AWS, so the email adapter runs unchanged
 * (the local Lambda and CloudWatch endpoints do the same for their services). Simple and template
 * content are refused: the platform sends raw messages only.
 */

const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const SEND_PATH = '/v2/email/outbound-emails';

class SesError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export async function startSesEndpoint(opts: {
  iam: LocalIam;
  region: string;
  outboxDir: string;
  host?: string;
  port?: number;
}): Promise<{ url: string; close(): Promise<void> }> {
  const identityArn = (identity: string) =>
    `arn:aws:ses:${opts.region}:${LOCAL_ACCOUNT_ID}:identity/${identity}`;
  const server = createServer((req, res) => {
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-amzn-requestid': randomUUID(),
        ...headers,
      });
      res.end(JSON.stringify(payload));
    };
    const handle = async () => {
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== SEND_PATH) {
        throw new SesError(
          'NotFoundException',
          `The local SES v2 answers POST ${SEND_PATH} (SendEmail) only`,
          404,
        );
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_REQUEST_BYTES)
          throw new SesError('MessageRejected', 'The message is larger than 10 MB');
        chunks.push(chunk as Buffer);
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        throw new SesError('BadRequestException', 'The request body is not valid JSON');
      }
      const from = typeof body.FromEmailAddress === 'string' ? body.FromEmailAddress : '';
      const domain = from.split('@')[1];
      if (!domain) throw new SesError('BadRequestException', 'FromEmailAddress must be an email address');
      const request = { method: 'POST', url: req.url ?? SEND_PATH, headers: req.headers, body: raw };
      // Allowed on the sender's domain identity, or on the address's own.
      const denial = await opts.iam.authorize(request, 'ses:SendEmail', identityArn(domain));
      if (
        denial &&
        (denial.reason === 'signature' ||
          (await opts.iam.authorize(request, 'ses:SendEmail', identityArn(from))))
      ) {
        throw new SesError(
          denial.reason === 'signature' ? 'SignatureDoesNotMatch' : 'AccessDeniedException',
          denial.message,
          403,
        );
      }
      const data = (body.Content as { Raw?: { Data?: unknown } } | undefined)?.Raw?.Data;
      if (typeof data !== 'string' || data === '') {
        throw new SesError(
          'BadRequestException',
          'The local SES v2 takes Content.Raw.Data (a whole MIME message) only',
        );
      }
      const messageId = `${Date.now().toString(36)}-${randomUUID()}`;
      await mkdir(opts.outboxDir, { recursive: true });
      const file = join(opts.outboxDir, `${messageId}.eml`);
      // Written whole, then renamed: a mail client never opens half a message.
      await writeFile(`${file}.tmp`, Buffer.from(data, 'base64'));
      await rename(`${file}.tmp`, file);
      send(200, { MessageId: messageId });
    };
    handle().catch((err: unknown) => {
      if (err instanceof SesError)
        send(err.status, { message: err.message }, { 'x-amzn-errortype': err.type });
      else send(500, { message: 'Internal error' }, { 'x-amzn-errortype': 'InternalServiceErrorException' });
    });
  });
  return {
    url: await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0),
    close: () => closeNow(server),
  };
}
