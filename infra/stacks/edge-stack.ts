import { CfnOutput, Duration, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Function as CloudFrontFunction,
  Distribution,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { CfnLoggingConfiguration, CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import {
  commonRuleSet,
  customResponseBodies,
  RETRY_AFTER_FUNCTION_CODE,
  rateLimitRules,
  responseHeadersBehaviors,
  webAclVisibility,
} from '../constructs/edge-policies.ts';
import type { Manifest } from '../manifest.ts';
import type { StageSettings } from './settings.ts';

/** CloudFront takes web ACLs (scope CLOUDFRONT) and certificates from this region only. */
export const EDGE_REGION = 'us-east-1';

export interface EdgeStackProps extends StackProps {
  manifest: Manifest;
  settings: StageSettings;
  /** The HTTP API's endpoint (`https://<id>.execute-api.<region>.amazonaws.com`), the origin. */
  apiEndpoint: string;
}

/**
 * What stands before the HTTP API: a CloudFront distribution (no caching, every viewer header
 * but Host forwarded, HTTPS only) with the edge's response headers (`shared/edge.ts`), behind an
 * AWS WAF web ACL with the manifest's per-client and overall rate limits. WAF attaches to REST
 * APIs, ALBs and CloudFront but not to HTTP APIs, hence CloudFront; a CloudFront web ACL lives in
 * us-east-1, hence a stack of its own there. It reads the API's endpoint from the stateless
 * stack's output (`Fn::GetStackOutput`, which crosses regions).
 */
export class EdgeStack extends Stack {
  readonly webAcl: CfnWebACL;
  readonly responseHeadersPolicy: ResponseHeadersPolicy;
  readonly distribution: Distribution;
  readonly logsBucket: Bucket;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props);
    const { manifest, settings } = props;
    const name = `${manifest.service}-${settings.stage}`;

    // CloudFront's standard logs need a bucket with ACLs; its own server access logs go to a second one.
    const accessLogsBucket = new Bucket(this, 'EdgeAccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: settings.removalPolicy,
    });
    this.logsBucket = new Bucket(this, 'EdgeLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      serverAccessLogsBucket: accessLogsBucket,
      serverAccessLogsPrefix: 'edge-logs/',
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: settings.removalPolicy,
    });

    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      name,
      description: `${name}: rate limits and AWS common rules before the API`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      customResponseBodies: customResponseBodies(),
      rules: [...rateLimitRules(manifest.limits), commonRuleSet(2)],
      visibilityConfig: webAclVisibility(name),
    });
    // Blocked and counted requests only (who was rate limited, which common rule fired), without
    // the bearer token. WAF requires the log group's name to start with `aws-waf-logs-`.
    const wafLogs = new LogGroup(this, 'WebAclLogs', {
      logGroupName: `aws-waf-logs-${name}`,
      retention: settings.logRetention,
      removalPolicy: settings.removalPolicy,
    });
    new CfnLoggingConfiguration(this, 'WebAclLogging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [wafLogs.logGroupArn],
      redactedFields: [{ singleHeader: { Name: 'authorization' } }],
      loggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }],
          },
        ],
      },
    });

    this.responseHeadersPolicy = new ResponseHeadersPolicy(this, 'ResponseHeaders', {
      responseHeadersPolicyName: `${name}-edge-headers`,
      comment: 'The edge headers of shared/edge.ts',
      ...responseHeadersBehaviors(),
    });

    const retryAfter = new CloudFrontFunction(this, 'RetryAfterFunction', {
      comment: 'Retry-After on the 429 of the API Gateway throttle',
      runtime: FunctionRuntime.JS_2_0,
      code: FunctionCode.fromInline(RETRY_AFTER_FUNCTION_CODE),
    });

    const originDomain = Fn.select(2, Fn.split('/', props.apiEndpoint));
    this.distribution = new Distribution(this, 'Distribution', {
      comment: `${manifest.service} (${settings.stage}) API`,
      defaultBehavior: {
        origin: new HttpOrigin(originDomain, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
          readTimeout: Duration.seconds(30),
        }),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: AllowedMethods.ALLOW_ALL,
        // Answers are per caller; every viewer header but Host reaches the API (Host must be the
        // API's own, or API Gateway answers 403). Authorization included, which CloudFront allows
        // when nothing is cached.
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        responseHeadersPolicy: this.responseHeadersPolicy,
        functionAssociations: [{ function: retryAfter, eventType: FunctionEventType.VIEWER_RESPONSE }],
      },
      webAclId: this.webAcl.attrArn,
      httpVersion: HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket: this.logsBucket,
      logFilePrefix: 'cloudfront/',
      ...(settings.edgeDomain
        ? {
            domainNames: [settings.edgeDomain.name],
            // Only a certificate of one's own takes a security policy; the default one is TLSv1.
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
            certificate: Certificate.fromCertificateArn(
              this,
              'EdgeCertificate',
              settings.edgeDomain.certificateArn,
            ),
          }
        : {}),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'The API serves callers wherever they are: tokens and the WAF rate rules decide who gets an answer, not the country.',
    });
    if (!settings.edgeDomain) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without edgeDomainName/edgeCertificateArn the distribution has only the *.cloudfront.net certificate, whose TLSv1 floor CloudFront fixes; a stage with its own domain gets TLSv1.2_2021.',
      });
    }

    const host = settings.edgeDomain?.name ?? this.distribution.distributionDomainName;
    new CfnOutput(this, 'ApiUrl', {
      value: `https://${host}/`,
      description: 'Base URL of the API (CloudFront and WAF before the HTTP API)',
    });
    new CfnOutput(this, 'DistributionDomainName', { value: this.distribution.distributionDomainName });
    new CfnOutput(this, 'WebAclArn', { value: this.webAcl.attrArn });
  }
}
