import { z } from 'zod';
import { AwsJsonError } from '../aws-json.ts';

/**
 * What each operation of the local Step Functions accepts, and the errors AWS answers for what it
 * does not: its ValidationException for a member, InvalidName, InvalidToken for a paging token.
 */

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
/** AWS's name rule: 1-80 characters, none of whitespace, brackets, wildcards, specials or controls. */
const NAME_SPECIALS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
const isValidName = (name: string) =>
  name.length >= 1 &&
  name.length <= 80 &&
  !NAME_SPECIALS.test(name) &&
  ![...name].some((c) => {
    const code = c.codePointAt(0)!;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });

export const fail = (type: string, message: string) => new AwsJsonError(type, message);

const Arn = z.string().min(1);
const Page = { maxResults: z.int().min(0).max(MAX_PAGE).optional(), nextToken: z.string().min(1).optional() };
export const schemas = {
  CreateStateMachine: z.looseObject({
    name: z.string(),
    definition: z.string().min(1),
    roleArn: Arn,
    type: z.enum(['STANDARD', 'EXPRESS']).optional(),
  }),
  UpdateStateMachine: z.looseObject({
    stateMachineArn: Arn,
    definition: z.string().min(1).optional(),
    roleArn: Arn.optional(),
  }),
  DeleteStateMachine: z.looseObject({ stateMachineArn: Arn }),
  DescribeStateMachine: z.looseObject({ stateMachineArn: Arn }),
  ListStateMachines: z.looseObject({ ...Page }),
  StartExecution: z.looseObject({
    stateMachineArn: Arn,
    name: z.string().optional(),
    input: z.string().optional(),
  }),
  DescribeExecution: z.looseObject({ executionArn: Arn }),
  ListExecutions: z.looseObject({
    stateMachineArn: Arn,
    statusFilter: z
      .enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'])
      .optional(),
    ...Page,
  }),
  GetExecutionHistory: z.looseObject({
    executionArn: Arn,
    reverseOrder: z.boolean().optional(),
    includeExecutionData: z.boolean().optional(),
    ...Page,
  }),
  StopExecution: z.looseObject({
    executionArn: Arn,
    error: z.string().max(256).optional(),
    cause: z.string().max(32768).optional(),
  }),
} as const;
export type Operation = keyof typeof schemas;

export function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const member = issue.path.join('.') || 'request';
  const missing = issue.code === 'invalid_type' && issue.input === undefined;
  throw fail(
    'ValidationException',
    missing
      ? `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`
      : `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${issue.message}`,
  );
}

export function checkName(name: string): void {
  if (!isValidName(name)) throw fail('InvalidName', `Invalid Name: '${name}'`);
}

/** A page of `items` from the offset a token carries; the token is the next offset, opaque. */
export function page<T>(items: T[], token: string | undefined, max: number | undefined) {
  let offset = 0;
  if (token !== undefined) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      !Number.isInteger(offset) ||
      offset < 0 ||
      Buffer.from(String(offset)).toString('base64url') !== token
    ) {
      throw fail('InvalidToken', `Invalid Token: '${token}'`);
    }
  }
  const size = max || DEFAULT_PAGE;
  const next =
    offset + size < items.length ? Buffer.from(String(offset + size)).toString('base64url') : undefined;
  return { items: items.slice(offset, offset + size), next };
}
