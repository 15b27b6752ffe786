import { FilterPattern } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '../../infra/manifest.ts';
import { ACCESS_LOG_FIELDS, accessLogFilterPattern } from '../../shared/access-log/format.ts';
import {
  actionsOf,
  cfnString,
  logicalIdOf,
  resourcesOf,
  type Synthesized,
  statementsOfRole,
  synthPlatform,
  TEST_REGION,
} from './support.ts';

/**
 * The access-log pipeline in the stacks: the API stack's access log group is subscribed, with the
 * filter pattern derived from the reported statuses, to the consumer's `live` alias (by ARN, as
 * routes are), which CloudWatch Logs alone may invoke for that group; the consumer may only put
 * events on the bus.
 */

describe('the API access log subscription', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthPlatform();
  });
  const consumer = manifest.apiAccessLogConsumer;
  const aliasArn = `arn:aws:lambda:${TEST_REGION}:<AWS::AccountId>:function:vector-platform-dev-${consumer}:live`;

  it('is the CloudWatch pattern of the reported statuses, as CDK would write it', () => {
    expect(accessLogFilterPattern()).toBe('{ ($.status >= 500) || ($.status = 401) || ($.status = 403) }');
    expect(accessLogFilterPattern()).toBe(
      FilterPattern.any(
        FilterPattern.numberValue('$.status', '>=', 500),
        FilterPattern.numberValue('$.status', '=', 401),
        FilterPattern.numberValue('$.status', '=', 403),
      ).logPatternString,
    );
  });

  it('filters the access log group to the consumer alias, by ARN', () => {
    const accessLogs = logicalIdOf(s.api.node.findChild('HttpApiAccessLogs') as never);
    const filters = Object.values(s.apiTemplate.findResources('AWS::Logs::SubscriptionFilter'));
    expect(filters).toHaveLength(1);
    const filter = filters[0] as { Properties: Record<string, unknown>; DependsOn?: string[] };
    expect(filter.Properties.LogGroupName).toEqual({ Ref: accessLogs });
    expect(filter.Properties.FilterPattern).toBe(accessLogFilterPattern());
    expect(cfnString(filter.Properties.DestinationArn)).toBe(aliasArn);
    // The permission exists before the filter (CloudWatch Logs tests the destination on creation).
    const permissions = s.apiTemplate.findResources('AWS::Lambda::Permission', {
      Properties: { Principal: 'logs.amazonaws.com' },
    });
    expect(Object.keys(permissions)).toHaveLength(1);
    const [permissionId, permission] = Object.entries(permissions)[0]!;
    expect(cfnString(permission.Properties.FunctionName)).toBe(aliasArn);
    expect(permission.Properties.SourceArn).toEqual({ 'Fn::GetAtt': [accessLogs, 'Arn'] });
    expect(filter.DependsOn).toContain(permissionId);
  });

  it('logs every field the consumers read, status and time as numbers', () => {
    const stage = Object.values(s.apiTemplate.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
    const format = JSON.parse(
      (stage.Properties.AccessLogSettings.Format as string)
        .replace('$context.status', '0')
        .replace('$context.requestTimeEpoch', '0'),
    );
    expect(Object.keys(format)).toEqual(Object.keys(ACCESS_LOG_FIELDS));
    expect(format).toMatchObject({
      sub: '$context.authorizer.claims.sub',
      userAgent: '$context.identity.userAgent',
      integrationError: '$context.integrationErrorMessage',
      status: 0,
      requestTimeEpoch: 0,
    });
  });

  it('lets the consumer put events on the bus, nothing else', () => {
    const fn = s.stateless.functions[consumer]!;
    const granted = statementsOfRole(s.statelessTemplate, logicalIdOf(fn.role))
      .flatMap((st) =>
        actionsOf(st).map((action) => {
          const resources = resourcesOf(st).map((r) =>
            /EventBus/.test(cfnString(r)) ? 'EventBus' : cfnString(r),
          );
          return `${action} ${resources.join(' ')}`;
        }),
      )
      .filter((g) => !/^(logs|xray):/.test(g))
      .sort();
    // DescribeEventBus is the bus:put grant's health check (ping), read-only.
    expect(granted).toEqual(['events:DescribeEventBus EventBus', 'events:PutEvents EventBus']);
  });
});
