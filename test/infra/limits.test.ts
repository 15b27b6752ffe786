import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, manifest } from '../../infra/manifest.ts';
import { RATE_LIMIT_RETRY_AFTER_SECONDS, RATE_LIMITED_BODY, RATE_LIMITED_STATUS } from '../../shared/edge.ts';
import { type Synthesized, synthPlatform } from './support.ts';

type Json = ReturnType<Template['toJSON']>;

/** The platform manifest with other numbers, so nothing can pass by matching a constant. */
const otherLimits = {
  ...manifest,
  limits: { stage: { ratePerSecond: 11, burst: 23 }, overallPerMinute: 4321, perClientPerMinute: 123 },
  routes: manifest.routes.map((r) =>
    r.path === '/api/v1/plans/{id}' && r.method === 'GET'
      ? { ...r, throttle: { ratePerSecond: 3, burst: 4 } }
      : r,
  ),
} satisfies Manifest;

function stageOf(s: Synthesized): Json {
  const stages = Object.values(s.apiTemplate.findResources('AWS::ApiGatewayV2::Stage'));
  expect(stages).toHaveLength(1);
  return stages[0]!;
}

function webAclOf(s: Synthesized): Json {
  const acls = Object.values(s.edgeTemplate.findResources('AWS::WAFv2::WebACL'));
  expect(acls).toHaveLength(1);
  return acls[0]!.Properties;
}

const rateRules = (acl: Json) =>
  (acl.Rules as Json[]).filter((r) => r.Statement.RateBasedStatement !== undefined) as Json[];

describe.each([
  ['the platform manifest', manifest as Manifest],
  ['a manifest with other limits', otherLimits as Manifest],
])('request limits from %s', (_name, m) => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform({ manifest: m });
  });

  it('throttles the stage as manifest.limits.stage says', () => {
    expect(stageOf(s).Properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: m.limits.stage.ratePerSecond,
      ThrottlingBurstLimit: m.limits.stage.burst,
      DetailedMetricsEnabled: true,
    });
  });

  it('gives exactly the routes with a throttle their own, keyed by route key, after the routes exist', () => {
    const stage = stageOf(s);
    const throttled = m.routes.filter((r) => r.throttle);
    expect(throttled.length).toBeGreaterThan(0);
    const expected = Object.fromEntries(
      throttled.map((r) => [
        `${r.method} ${r.path}`,
        {
          ThrottlingRateLimit: r.throttle!.ratePerSecond,
          ThrottlingBurstLimit: r.throttle!.burst,
          // Detailed metrics stated again: nothing documents a route inheriting the stage's.
          DetailedMetricsEnabled: true,
        },
      ]),
    );
    expect(stage.Properties.RouteSettings).toEqual(expected);
    const routeIds = s.apiTemplate.findResources('AWS::ApiGatewayV2::Route');
    for (const key of Object.keys(expected)) {
      const [id] = Object.entries(routeIds).find(([, r]) => r.Properties.RouteKey === key) ?? [];
      expect(id, key).toBeDefined();
      expect(stage.DependsOn, key).toContain(id);
    }
  });

  it('limits each client IP address to perClientPerMinute over 60 s, with the 429 answer', () => {
    const acl = webAclOf(s);
    const perIp = rateRules(acl).filter((r) => r.Statement.RateBasedStatement.AggregateKeyType === 'IP');
    expect(perIp).toHaveLength(1);
    expect(perIp[0]!.Statement.RateBasedStatement).toMatchObject({
      Limit: m.limits.perClientPerMinute,
      EvaluationWindowSec: 60,
    });
  });

  it('limits all requests together to overallPerMinute over 60 s (aggregate key CONSTANT, every path)', () => {
    const acl = webAclOf(s);
    const overall = rateRules(acl).filter(
      (r) => r.Statement.RateBasedStatement.AggregateKeyType === 'CONSTANT',
    );
    expect(overall).toHaveLength(1);
    const statement = overall[0]!.Statement.RateBasedStatement;
    expect(statement).toMatchObject({ Limit: m.limits.overallPerMinute, EvaluationWindowSec: 60 });
    // CONSTANT counts what the scope-down matches: every request, whose path starts with `/`.
    expect(statement.ScopeDownStatement).toEqual({
      ByteMatchStatement: {
        FieldToMatch: { UriPath: {} },
        PositionalConstraint: 'STARTS_WITH',
        SearchString: '/',
        TextTransformations: [{ Priority: 0, Type: 'NONE' }],
      },
    });
  });

  it('blocks over a limit with status 429, the JSON body of shared/edge.ts and Retry-After', () => {
    const acl = webAclOf(s);
    const rules = rateRules(acl);
    expect(rules).toHaveLength(2);
    for (const rule of rules) {
      const response = rule.Action.Block.CustomResponse;
      expect(response.ResponseCode, rule.Name).toBe(RATE_LIMITED_STATUS);
      expect(response.ResponseHeaders).toEqual([
        { Name: 'Retry-After', Value: String(RATE_LIMIT_RETRY_AFTER_SECONDS) },
      ]);
      const body = acl.CustomResponseBodies[response.CustomResponseBodyKey];
      expect(body.ContentType).toBe('APPLICATION_JSON');
      expect(JSON.parse(body.Content)).toEqual(RATE_LIMITED_BODY);
    }
  });
});

describe('the web ACL', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });

  it('is a CloudFront web ACL that allows by default, in us-east-1', () => {
    const acl = webAclOf(s);
    expect(acl.Scope).toBe('CLOUDFRONT');
    expect(acl.DefaultAction).toEqual({ Allow: {} });
    expect(s.edge.region).toBe('us-east-1');
  });

  it("runs AWS's common rule set after the rate rules, counting (not blocking) the body rules", () => {
    const acl = webAclOf(s);
    const managed = (acl.Rules as Json[]).filter((r) => r.Statement.ManagedRuleGroupStatement);
    expect(managed).toHaveLength(1);
    const [common] = managed;
    expect(common!.Statement.ManagedRuleGroupStatement).toMatchObject({
      VendorName: 'AWS',
      Name: 'AWSManagedRulesCommonRuleSet',
    });
    expect(common!.OverrideAction).toEqual({ None: {} });
    const counted = common!.Statement.ManagedRuleGroupStatement.RuleActionOverrides;
    expect(counted.map((o: Json) => o.Name)).toContain('SizeRestrictions_BODY');
    for (const o of counted) {
      expect(o.Name, o.Name).toMatch(/_BODY$/);
      expect(o.ActionToUse).toEqual({ Count: {} });
    }
    const ratePriorities = rateRules(acl).map((r) => r.Priority as number);
    expect(common!.Priority).toBeGreaterThan(Math.max(...ratePriorities));
    const priorities = (acl.Rules as Json[]).map((r) => r.Priority);
    expect(new Set(priorities).size).toBe(priorities.length);
  });

  it('logs blocked and counted requests to an aws-waf-logs- group, without the bearer token', () => {
    const [logging, ...others] = Object.values(
      s.edgeTemplate.findResources('AWS::WAFv2::LoggingConfiguration'),
    );
    expect(others).toEqual([]);
    const [aclId] = Object.keys(s.edgeTemplate.findResources('AWS::WAFv2::WebACL'));
    expect(logging!.Properties.ResourceArn).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
    expect(logging!.Properties.RedactedFields).toEqual([{ SingleHeader: { Name: 'authorization' } }]);
    s.edgeTemplate.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: 'aws-waf-logs-vector-platform-dev',
    });
  });
});
