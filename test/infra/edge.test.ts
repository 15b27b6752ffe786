import type { Template } from 'aws-cdk-lib/assertions';
import { CachePolicy, OriginRequestPolicy } from 'aws-cdk-lib/aws-cloudfront';
import { beforeAll, describe, expect, it } from 'vitest';
import { responseHeadersBehaviors } from '../../infra/constructs/edge-policies.ts';
import { EDGE_RESPONSE_HEADERS, THROTTLED_RETRY_AFTER_SECONDS } from '../../shared/edge.ts';
import { logicalIdOf, type Synthesized, synthPlatform, TEST_REGION } from './support.ts';

type Json = ReturnType<Template['toJSON']>;

const distributionConfigOf = (s: Synthesized): Json => {
  const distributions = Object.values(s.edgeTemplate.findResources('AWS::CloudFront::Distribution'));
  expect(distributions).toHaveLength(1);
  return distributions[0]!.Properties.DistributionConfig;
};

/**
 * The headers a response headers policy sets, as `name → {value, override}`, read back from the
 * template independently of how the stack built it.
 */
function headersOfPolicy(config: Json): Record<string, { value: string; override: boolean }> {
  const out: Record<string, { value: string; override: boolean }> = {};
  const sec = config.SecurityHeadersConfig ?? {};
  if (sec.StrictTransportSecurity) {
    const h = sec.StrictTransportSecurity;
    const value = [
      `max-age=${h.AccessControlMaxAgeSec}`,
      ...(h.IncludeSubdomains ? ['includeSubDomains'] : []),
      ...(h.Preload ? ['preload'] : []),
    ].join('; ');
    out['strict-transport-security'] = { value, override: h.Override };
  }
  if (sec.ContentTypeOptions) {
    out['x-content-type-options'] = { value: 'nosniff', override: sec.ContentTypeOptions.Override };
  }
  if (sec.FrameOptions) {
    out['x-frame-options'] = { value: sec.FrameOptions.FrameOption, override: sec.FrameOptions.Override };
  }
  if (sec.ReferrerPolicy) {
    out['referrer-policy'] = {
      value: sec.ReferrerPolicy.ReferrerPolicy,
      override: sec.ReferrerPolicy.Override,
    };
  }
  if (sec.ContentSecurityPolicy) {
    out['content-security-policy'] = {
      value: sec.ContentSecurityPolicy.ContentSecurityPolicy,
      override: sec.ContentSecurityPolicy.Override,
    };
  }
  if (sec.XSSProtection) throw new Error('unexpected x-xss-protection');
  for (const h of config.CustomHeadersConfig?.Items ?? []) {
    out[h.Header.toLowerCase()] = { value: h.Value, override: h.Override };
  }
  return out;
}

describe('the edge before the HTTP API', () => {
  let s: Synthesized;
  let config: Json;
  beforeAll(() => {
    s = synthPlatform();
    config = distributionConfigOf(s);
  });

  it('sends everything to the HTTP API over HTTPS (TLS 1.2), read from the stateless stack in its region', () => {
    expect(config.Origins).toHaveLength(1);
    const [origin] = config.Origins;
    expect(origin.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
    expect(origin.OriginPath ?? '').toBe('');
    // `https://<id>.execute-api.<region>.amazonaws.com` → its host.
    expect(origin.DomainName['Fn::Select'][0]).toBe(2);
    const split = origin.DomainName['Fn::Select'][1]['Fn::Split'];
    expect(split[0]).toBe('/');
    const ref = split[1]['Fn::GetStackOutput'];
    expect(ref).toMatchObject({ StackName: s.stateless.stackName, Region: TEST_REGION });
    expect(s.statelessTemplate.toJSON().Outputs[ref.OutputName].Value).toEqual({
      'Fn::GetAtt': [logicalIdOf(s.stateless.api), 'ApiEndpoint'],
    });
    // Deployed after the API it fronts.
    expect(s.edge.dependencies).toContain(s.stateless);
    expect(s.edge.dependencies).toContain(s.api); // its stage and routes exist first
  });

  it('caches nothing, forwards every viewer header but Host, and takes HTTPS only', () => {
    const behavior = config.DefaultCacheBehavior;
    expect(behavior.CachePolicyId).toBe(CachePolicy.CACHING_DISABLED.cachePolicyId);
    expect(behavior.OriginRequestPolicyId).toBe(
      OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
    );
    expect(behavior.ViewerProtocolPolicy).toBe('https-only');
    expect([...behavior.AllowedMethods].sort()).toEqual([
      'DELETE',
      'GET',
      'HEAD',
      'OPTIONS',
      'PATCH',
      'POST',
      'PUT',
    ]);
    expect(config.CacheBehaviors).toBeUndefined();
  });

  it('is protected by the web ACL and logs to its bucket', () => {
    const [aclId] = Object.keys(s.edgeTemplate.findResources('AWS::WAFv2::WebACL'));
    expect(config.WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(config.Logging.Bucket).toEqual({
      'Fn::GetAtt': [logicalIdOf(s.edge.logsBucket), 'RegionalDomainName'],
    });
  });

  it('adds the edge headers of shared/edge.ts: same names, values and override flags', () => {
    const policies = Object.values(s.edgeTemplate.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    expect(policies).toHaveLength(1);
    const policyConfig = policies[0]!.Properties.ResponseHeadersPolicyConfig;
    expect(headersOfPolicy(policyConfig)).toEqual(EDGE_RESPONSE_HEADERS);
    expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual({
      Ref: logicalIdOf(s.edge.responseHeadersPolicy),
    });
  });

  it("gives API Gateway's throttled 429 a Retry-After on the way out, and leaves every other answer alone", () => {
    const [association] = config.DefaultCacheBehavior.FunctionAssociations;
    expect(association.EventType).toBe('viewer-response');
    const fns = s.edgeTemplate.findResources('AWS::CloudFront::Function');
    const fn = (Object.values(fns) as Json[])[0]!;
    expect(fn.Properties.FunctionConfig.Runtime).toBe('cloudfront-js-2.0');
    // Run the deployed code as CloudFront does: handler(event) → response.
    const handler = new Function(`${fn.Properties.FunctionCode}; return handler;`)() as (e: Json) => Json;
    const answer = (statusCode: number, headers: Json = {}) => handler({ response: { statusCode, headers } });
    expect(answer(429).headers['retry-after']).toEqual({ value: String(THROTTLED_RETRY_AFTER_SECONDS) });
    expect(answer(429, { 'retry-after': { value: '60' } }).headers['retry-after']).toEqual({ value: '60' });
    expect(answer(200).headers['retry-after']).toBeUndefined();
    expect(answer(503).headers['retry-after']).toBeUndefined();
  });

  it('outputs the edge URL as ApiUrl and keeps the direct one as DirectApiUrl', () => {
    const edgeOutputs = s.edgeTemplate.toJSON().Outputs;
    expect(edgeOutputs.ApiUrl.Value).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [logicalIdOf(s.edge.distribution), 'DomainName'] }, '/']],
    });
    expect(JSON.stringify(s.apiTemplate.toJSON().Outputs.DirectApiUrl.Value)).toContain('execute-api');
  });
});

describe('response headers mapping', () => {
  it('refuses a header value CloudFront cannot express rather than dropping it', () => {
    expect(() =>
      responseHeadersBehaviors({ 'x-frame-options': { value: 'ALLOW-FROM x', override: true } }),
    ).toThrow(/x-frame-options/);
    expect(() =>
      responseHeadersBehaviors({
        'strict-transport-security': { value: 'max-age=1; bogus', override: true },
      }),
    ).toThrow(/strict-transport-security/);
  });

  it('puts any other header in the custom headers, as declared', () => {
    expect(
      responseHeadersBehaviors({ 'x-thing': { value: 'a', override: false } }).customHeadersBehavior,
    ).toEqual({
      customHeaders: [{ header: 'x-thing', value: 'a', override: false }],
    });
  });
});

describe('the edge in other settings', () => {
  it('with the stage in us-east-1 (the CLI default), reads the API from the same region', () => {
    const s = synthPlatform({ region: 'us-east-1' });
    const origin = distributionConfigOf(s).Origins[0];
    expect(origin.DomainName['Fn::Select'][1]['Fn::Split'][1]['Fn::GetStackOutput'].Region).toBe('us-east-1');
  });

  it('with its own domain and certificate, serves that name with TLS 1.2 at least (SNI)', () => {
    const certificateArn =
      'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
    const s = synthPlatform({
      context: { edgeDomainName: 'api.example.com', edgeCertificateArn: certificateArn },
    });
    const config = distributionConfigOf(s);
    expect(config.Aliases).toEqual(['api.example.com']);
    expect(config.ViewerCertificate).toEqual({
      AcmCertificateArn: certificateArn,
      MinimumProtocolVersion: 'TLSv1.2_2021',
      SslSupportMethod: 'sni-only',
    });
    expect(s.edgeTemplate.toJSON().Outputs.ApiUrl.Value).toBe('https://api.example.com/');
  });
});
