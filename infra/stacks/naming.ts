import { ArnFormat, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** `listCollections` → `ListCollections`, `dead-letters` → `DeadLetters`: construct ids from manifest keys. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/** Lambda function names and EventBridge rule names: at most 64 of these characters. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The fixed name of a deployed function or rule, `<service>-<stage>-<manifest key>`. Fixed so that
 * its ARN is known without a CloudFormation reference to it: functions invoke each other's
 * managers and queue policies name rules of the other stack, which references would make cycles.
 */
export function deployedName(service: string, stage: string, key: string, what: 'Function' | 'Rule'): string {
  const name = `${service}-${stage}-${key}`;
  if (!NAME.test(name)) {
    throw new Error(
      `${what} ${key}: its deployed name "${name}" (${name.length} characters) must be at most 64 letters, digits, "-" or "_": shorten the manifest key or the stage`,
    );
  }
  return name;
}

/** The ARN of a function of `scope`'s account and region, by name. */
export function functionArn(scope: IConstruct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'lambda',
    resource: 'function',
    resourceName: name,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** The ARN of a rule on a custom event bus (`rule/<bus>/<rule>`), by names. */
export function ruleArn(scope: IConstruct, eventBusName: string, ruleName: string): string {
  return Stack.of(scope).formatArn({
    service: 'events',
    resource: 'rule',
    resourceName: `${eventBusName}/${ruleName}`,
  });
}

/**
 * The CodeDeploy application of a stage's releases. Its deployment groups are named after the
 * functions they release (`deployedName`): each function's alias names its group by these fixed
 * names, since the groups live in the operations stack, which itself reads the stateless stack.
 */
export function releaseApplicationName(service: string, stage: string): string {
  return `${service}-${stage}`;
}
