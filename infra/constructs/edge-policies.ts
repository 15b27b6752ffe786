import { Duration } from 'aws-cdk-lib';
import {
  HeadersFrameOption,
  HeadersReferrerPolicy,
  type ResponseCustomHeadersBehavior,
  type ResponseSecurityHeadersBehavior,
} from 'aws-cdk-lib/aws-cloudfront';
import type { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import {
  EDGE_RESPONSE_HEADERS,
  RATE_LIMIT_RETRY_AFTER_SECONDS,
  RATE_LIMITED_BODY,
  RATE_LIMITED_STATUS,
  THROTTLED_RETRY_AFTER_SECONDS,
} from '../../shared/edge.ts';
import type { Limits } from '../manifest.ts';

/**
 * The edge's declarations (`shared/edge.ts`, `manifest.limits`) as CloudFront and AWS WAF take
 * them. Plain functions of the declarations, so the tests can compare both ways.
 */

export type EdgeHeaders = Readonly<Record<string, { readonly value: string; readonly override: boolean }>>;

export interface ResponseHeadersBehaviors {
  securityHeadersBehavior: ResponseSecurityHeadersBehavior;
  customHeadersBehavior?: ResponseCustomHeadersBehavior;
}

/**
 * A response headers policy's behaviors from the edge headers. CloudFront refuses its security
 * headers as custom headers, so those five go to their own fields (parsed from the value, which
 * must be one CloudFront can express); every other header is a custom header.
 */
export function responseHeadersBehaviors(
  headers: EdgeHeaders = EDGE_RESPONSE_HEADERS,
): ResponseHeadersBehaviors {
  const security: {
    -readonly [K in keyof ResponseSecurityHeadersBehavior]: ResponseSecurityHeadersBehavior[K];
  } = {};
  const custom: ResponseCustomHeadersBehavior['customHeaders'][number][] = [];
  const unsupported = (name: string, value: string): never => {
    throw new Error(
      `Edge header ${name}: "${value}" cannot be expressed in a CloudFront response headers policy`,
    );
  };
  for (const [rawName, { value, override }] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    switch (name) {
      case 'strict-transport-security': {
        const parts = value.split(';').map((p) => p.trim().toLowerCase());
        const maxAge = /^max-age=(\d+)$/.exec(parts[0] ?? '');
        const rest = new Set(parts.slice(1).filter((p) => p !== ''));
        if (!maxAge || [...rest].some((p) => p !== 'includesubdomains' && p !== 'preload')) {
          unsupported(name, value);
        }
        security.strictTransportSecurity = {
          accessControlMaxAge: Duration.seconds(Number(maxAge![1])),
          includeSubdomains: rest.has('includesubdomains'),
          preload: rest.has('preload'),
          override,
        };
        break;
      }
      case 'x-content-type-options':
        if (value.toLowerCase() !== 'nosniff') unsupported(name, value);
        security.contentTypeOptions = { override };
        break;
      case 'x-frame-options': {
        const option = Object.values(HeadersFrameOption).find((o) => o === value.toUpperCase());
        if (!option) return unsupported(name, value);
        security.frameOptions = { frameOption: option, override };
        break;
      }
      case 'referrer-policy': {
        const policy = Object.values(HeadersReferrerPolicy).find((p) => p === value.toLowerCase());
        if (!policy) return unsupported(name, value);
        security.referrerPolicy = { referrerPolicy: policy, override };
        break;
      }
      case 'content-security-policy':
        security.contentSecurityPolicy = { contentSecurityPolicy: value, override };
        break;
      case 'x-xss-protection':
        // Deprecated by browsers; not declared, and not worth parsing.
        return unsupported(name, value);
      default:
        custom.push({ header: name, value, override });
    }
  }
  return {
    securityHeadersBehavior: security,
    ...(custom.length > 0 ? { customHeadersBehavior: { customHeaders: custom } } : {}),
  };
}

/** The key of the WAF custom response body that every rate rule answers with. */
export const RATE_LIMITED_BODY_KEY = 'rate-limited';

/** The web ACL's custom response bodies (referenced by key from the rules' block actions). */
export function customResponseBodies(): Record<string, CfnWebACL.CustomResponseBodyProperty> {
  return {
    [RATE_LIMITED_BODY_KEY]: { contentType: 'APPLICATION_JSON', content: JSON.stringify(RATE_LIMITED_BODY) },
  };
}

/** WAF's rate-based rules count over this window (60 s: the manifest declares per-minute limits). */
export const RATE_WINDOW_SECONDS = 60;

/** The rule names, also their CloudWatch metric names. */
export const RATE_RULES = { perClient: 'rate-per-client-ip', overall: 'rate-overall' } as const;

const visibility = (metricName: string): CfnWebACL.VisibilityConfigProperty => ({
  metricName,
  cloudWatchMetricsEnabled: true,
  sampledRequestsEnabled: true,
});

const rateLimitedBlock: CfnWebACL.RuleActionProperty = {
  block: {
    customResponse: {
      responseCode: RATE_LIMITED_STATUS,
      customResponseBodyKey: RATE_LIMITED_BODY_KEY,
      responseHeaders: [{ name: 'Retry-After', value: String(RATE_LIMIT_RETRY_AFTER_SECONDS) }],
    },
  },
};

/**
 * The manifest's per-minute limits as WAF rate-based rules: one per client IP address, one over
 * every request together (aggregate key CONSTANT, which WAF only takes with a scope-down
 * statement: here one that every request matches, a path starting with `/`).
 */
export function rateLimitRules(
  limits: Pick<Limits, 'perClientPerMinute' | 'overallPerMinute'>,
): CfnWebACL.RuleProperty[] {
  return [
    {
      name: RATE_RULES.perClient,
      priority: 0,
      action: rateLimitedBlock,
      statement: {
        rateBasedStatement: {
          limit: limits.perClientPerMinute,
          evaluationWindowSec: RATE_WINDOW_SECONDS,
          aggregateKeyType: 'IP',
        },
      },
      visibilityConfig: visibility(RATE_RULES.perClient),
    },
    {
      name: RATE_RULES.overall,
      priority: 1,
      action: rateLimitedBlock,
      statement: {
        rateBasedStatement: {
          limit: limits.overallPerMinute,
          evaluationWindowSec: RATE_WINDOW_SECONDS,
          aggregateKeyType: 'CONSTANT',
          scopeDownStatement: {
            byteMatchStatement: {
              fieldToMatch: { uriPath: {} },
              positionalConstraint: 'STARTS_WITH',
              searchString: '/',
              textTransformations: [{ priority: 0, type: 'NONE' }],
            },
          },
        },
      },
      visibilityConfig: visibility(RATE_RULES.overall),
    },
  ];
}

/**
 * The common rule set's rules that inspect request bodies. They count instead of blocking: this
 * API stores people's text (plans, documents to embed), in which markup, `../` paths or metadata
 * addresses are content, and bodies over 8 KB are normal (batch upserts, plans).
 */
export const COMMON_RULE_SET_BODY_RULES = [
  'SizeRestrictions_BODY',
  'CrossSiteScripting_BODY',
  'GenericLFI_BODY',
  'GenericRFI_BODY',
  'EC2MetaDataSSRF_BODY',
] as const;

/** AWS's common rule set (bad user agents, traversal, injection in paths, queries, cookies). */
export function commonRuleSet(priority: number): CfnWebACL.RuleProperty {
  const name = 'aws-common-rule-set';
  return {
    name,
    priority,
    overrideAction: { none: {} },
    statement: {
      managedRuleGroupStatement: {
        vendorName: 'AWS',
        name: 'AWSManagedRulesCommonRuleSet',
        ruleActionOverrides: COMMON_RULE_SET_BODY_RULES.map((rule) => ({
          name: rule,
          actionToUse: { count: {} },
        })),
      },
    },
    visibilityConfig: visibility(name),
  };
}

export { visibility as webAclVisibility };

/**
 * The CloudFront viewer-response function (cloudfront-js-2.0) that gives a 429 without
 * `Retry-After` (API Gateway's throttle) one; the WAF's own 429 already has it.
 */
export const RETRY_AFTER_FUNCTION_CODE = `function handler(event) {
  var response = event.response;
  if (response.statusCode === ${RATE_LIMITED_STATUS} && !response.headers['retry-after']) {
    response.headers['retry-after'] = { value: '${THROTTLED_RETRY_AFTER_SECONDS}' };
  }
  return response;
}`;
