import { App, Stack, Validations } from 'aws-cdk-lib';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { CDK_JSON_CONTEXT, platform, wiredManifest } from './support.ts';

interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

/** Every acknowledgement recorded in the tree, with the construct it was made on. */
function acknowledgementsIn(app: App): Acknowledgement[] {
  return app.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({
          path: c.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

/**
 * Runs the AwsSolutions pack over the app and records which acknowledgements silenced a finding.
 * `isAcknowledged` is private in cdk-nag's typings but a plain method at run time.
 */
function runNag(app: App): { violations: string[]; used: Array<{ resource: string; id: string }> } {
  const pack = new AwsSolutionsChecks(app);
  const probe = pack as unknown as { isAcknowledged(resource: IConstruct, ruleId: string): boolean };
  const original = probe.isAcknowledged.bind(pack);
  const used: Array<{ resource: string; id: string }> = [];
  probe.isAcknowledged = (resource, ruleId) => {
    const acknowledged = original(resource, ruleId);
    if (acknowledged) used.push({ resource: resource.node.path, id: ruleId });
    return acknowledged;
  };
  const report = pack.validateScope(app);
  return { violations: report.violations.map((v) => v.ruleName), used };
}

describe.each([
  ['the platform manifest', undefined],
  ['a manifest with a consumer, a rule and a notification', wiredManifest],
])('cdk-nag AwsSolutions on %s', (_name, manifest) => {
  it('synthesizes with zero unacknowledged findings', () => {
    const { app } = platform({ nag: true, ...(manifest ? { manifest } : {}) });
    expect(() => app.synth()).not.toThrow();
  });

  it('has no acknowledgement that silences nothing, and a one-sentence reason for each', () => {
    const { app } = platform({ ...(manifest ? { manifest } : {}) });
    app.synth();
    const { violations, used } = runNag(app);
    expect(violations).toEqual([]);
    const acknowledgements = acknowledgementsIn(app);
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const ack of acknowledgements) {
      const silenced = used.some(
        (u) => u.id === ack.id && (u.resource === ack.path || u.resource.startsWith(`${ack.path}/`)),
      );
      expect(silenced, `${ack.id} on ${ack.path}`).toBe(true);
      expect(ack.reason, ack.id).toMatch(/^[A-Z`][^\n]{20,}\.$/);
    }
  });
});

describe('cdk-nag acknowledgements stay narrow', () => {
  it('acknowledges nothing on a stack or the app, nothing on the user pool, and only CFR1/CFR4 on the distribution', () => {
    const { app, stateful, edge } = platform();
    app.synth();
    const acknowledgements = acknowledgementsIn(app);
    for (const ack of acknowledgements) {
      expect(ack.path.split('/').length, `${ack.id} on ${ack.path}`).toBeGreaterThan(1);
    }
    expect(
      acknowledgements.filter(
        (a) => a.path.startsWith(`${stateful.identity.node.path}/`) || a.path === stateful.identity.node.path,
      ),
    ).toEqual([]);
    const onEdge = acknowledgements.filter((a) => a.path.startsWith(`${edge.node.path}/`));
    expect(onEdge.map((a) => [a.path, a.id])).toEqual([
      [edge.distribution.node.path, 'AwsSolutions-CFR1'],
      [edge.distribution.node.path, 'AwsSolutions-CFR4'],
    ]);
  });

  it('needs no TLS acknowledgement once the edge has its own domain and certificate', () => {
    const { app, edge } = platform({
      nag: true,
      context: {
        edgeDomainName: 'api.example.com',
        edgeCertificateArn:
          'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      },
    });
    expect(() => app.synth()).not.toThrow();
    expect(
      acknowledgementsIn(app)
        .filter((a) => a.path.startsWith(`${edge.node.path}/`))
        .map((a) => a.id),
    ).toEqual(['AwsSolutions-CFR1']);
  });
});

describe('cdk-nag is live', () => {
  it('fails the synth of a stack with a bucket that allows plain HTTP and keeps no access logs', () => {
    const app = new App({ context: CDK_JSON_CONTEXT });
    const stack = new Stack(app, 'Throwaway');
    new Bucket(stack, 'Loose');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
    expect(runNag(app).violations).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });

  it('fails the platform synth when a public route has no acknowledgement of its own', () => {
    const { app, stateless } = platform({ nag: true });
    stateless.api.addRoutes({
      path: '/api/v1/unacknowledged',
      integration: new HttpLambdaIntegration('Unacknowledged', stateless.functions.health!.fn),
    });
    expect(() => app.synth()).toThrow(/AwsSolutions-APIG4/);
  });
});
