import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { LocalIam, NodeSha256 } from '#local/iam.ts';

/** The local IAM on its own: SigV4 requests signed by the SDK's signer, then altered. */

const body = JSON.stringify({ Name: '/vector-platform/local/qdrant-url' });
const arn = 'arn:aws:ssm:us-east-1:000000000000:parameter/vector-platform/local/qdrant-url';

async function signedRequest(accessKeyId: string, secretAccessKey: string) {
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region: 'us-east-1',
    service: 'ssm',
    sha256: NodeSha256,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1:4574',
    path: '/',
    query: {},
    headers: {
      host: '127.0.0.1:4574',
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.GetParameter',
    },
    body,
  });
  return { method: 'POST', url: '/', headers: signed.headers as Record<string, string>, body };
}

describe('LocalIam', () => {
  const iam = new LocalIam();
  const granted = iam.register('fn-granted', [{ actions: ['ssm:GetParameter'], resources: [arn] }]);
  const other = iam.register('fn-other', []);

  it('allows a granted call signed with the function’s own secret key', async () => {
    const request = await signedRequest(granted.accessKeyId, granted.secretAccessKey);
    expect(await iam.authorize(request, 'ssm:GetParameter', arn)).toBeUndefined();
  });

  it('refuses a call not granted, naming the role, action and resource', async () => {
    const request = await signedRequest(other.accessKeyId, other.secretAccessKey);
    expect(await iam.authorize(request, 'ssm:GetParameter', arn)).toMatchObject({
      reason: 'access',
      message: expect.stringMatching(/fn-other-role.*ssm:GetParameter on resource: arn:aws:ssm:/),
    });
  });

  it('refuses a signature made with another key, or altered in any way', async () => {
    const forged = await signedRequest(granted.accessKeyId, other.secretAccessKey);
    expect(await iam.authorize(forged, 'ssm:GetParameter', arn)).toMatchObject({ reason: 'signature' });

    const good = await signedRequest(granted.accessKeyId, granted.secretAccessKey);
    const auth = good.headers.authorization!;
    for (const altered of [`${auth}00`, auth.replace(/.$/, (c) => (c === '0' ? '1' : '0'))]) {
      const request = { ...good, headers: { ...good.headers, authorization: altered } };
      expect(await iam.authorize(request, 'ssm:GetParameter', arn), altered).toMatchObject({
        reason: 'signature',
      });
    }
    // The body is signed too.
    const tampered = { ...good, body: body.replace('qdrant-url', 'openai-key') };
    expect(await iam.authorize(tampered, 'ssm:GetParameter', arn)).toMatchObject({ reason: 'signature' });
  });

  it('takes credentials it did not issue as the account administrator', async () => {
    const request = await signedRequest('local', 'local');
    expect(await iam.authorize(request, 'ssm:GetParameter', 'arn:aws:ssm:::anything')).toBeUndefined();
  });
});
