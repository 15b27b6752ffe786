import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_DEFINITION_BYTES,
  type ManagerActions,
  taskManagers,
  tasksOf,
  translateDefinition,
  validateDefinition,
} from '#shared/workflows/definition.ts';

/**
 * Workflow definitions: asl-validator's findings and the platform's own rules, each an issue
 * naming its field (a dotted path from `definition`) and its state; the translation into what the
 * engine runs.
 */

const MANAGERS: ManagerActions = { migration: ['start', 'get', 'redrive'], notifications: ['notify'] };

const machine = (States: Record<string, unknown>, StartAt = Object.keys(States)[0]) => ({ StartAt, States });
const task = (resource: string, more: Record<string, unknown> = { End: true }) => ({
  Type: 'Task',
  Resource: resource,
  ...more,
});
const validate = (definition: unknown) => validateDefinition(definition, MANAGERS);
const fields = (definition: unknown) => validate(definition).map((i) => i.field);

/** One valid definition with every state type, nested in branches and both kinds of Map. */
const EVERY_STATE = {
  Comment: 'every state type',
  StartAt: 'Start',
  States: {
    Start: task('manager:migration:start', {
      Parameters: { 'exportKey.$': '$.key' },
      ResultPath: '$.job',
      Next: 'Poll',
    }),
    Poll: task('manager:migration:get', {
      Parameters: { 'jobId.$': '$.job.id' },
      ResultPath: '$.job',
      Retry: [{ ErrorEquals: ['SERVICE_UNAVAILABLE', 'ManagerStopped'], IntervalSeconds: 5, MaxAttempts: 3 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Tell' }],
      Next: 'Done?',
    }),
    'Done?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.job.status', StringEquals: 'completed', Next: 'Fan' }],
      Default: 'Later',
    },
    Later: { Type: 'Wait', Seconds: 30, Next: 'Poll' },
    Fan: {
      Type: 'Parallel',
      Branches: [
        machine({ Shape: { Type: 'Pass', Result: { ok: true }, End: true } }),
        machine({
          Each: {
            Type: 'Map',
            ItemsPath: '$.items',
            Iterator: machine({ Old: { Type: 'Succeed' } }),
            End: true,
          },
        }),
      ],
      Next: 'Fanout',
    },
    Fanout: {
      Type: 'Map',
      ItemsPath: '$.notices',
      ItemProcessor: machine({ Notify: task('manager:notifications:notify') }),
      ResultPath: null,
      End: true,
    },
    Tell: task('manager:notifications:notify', { Parameters: { subject: 'failed' }, Next: 'Failed' }),
    Failed: { Type: 'Fail', Error: 'MigrationFailed', Cause: 'see the execution' },
  },
};

describe('validateDefinition: the language (asl-validator, mapped to fields)', () => {
  it('accepts a definition of every state type, Map with ItemProcessor and with Iterator', () => {
    expect(validate(EVERY_STATE)).toEqual([]);
    expect(validate(machine({ Only: { Type: 'Succeed' } }))).toEqual([]);
  });

  it('refuses what is not an object, as one issue naming the definition', () => {
    for (const raw of [null, undefined, 'x', 7, [], [EVERY_STATE]]) {
      expect(validate(raw)).toEqual([
        { field: 'definition', reason: 'must be an Amazon States Language object' },
      ]);
    }
  });

  it('names a missing StartAt and a missing field of a state', () => {
    expect(validate({ States: { A: { Type: 'Succeed' } } })).toEqual([
      { field: 'definition.StartAt', reason: 'is required' },
    ]);
    expect(validate(machine({ A: { Type: 'Choice', Default: 'B' }, B: { Type: 'Succeed' } }))).toEqual([
      { field: 'definition.States.A', reason: 'state "A": is not a valid Choice state: Choices is required' },
    ]);
    expect(validate(machine({ A: { Type: 'Pass', End: true, Bogus: 1 } }))).toEqual([
      {
        field: 'definition.States.A',
        reason:
          'state "A": is not a valid Pass state: a field it does not define, or a field of the wrong type',
      },
    ]);
  });

  it('names the field of a transition to an unknown state, at any depth', () => {
    expect(validate(machine({ A: { Type: 'Pass', Next: 'Nope' }, B: { Type: 'Succeed' } }))).toContainEqual({
      field: 'definition.States.A.Next',
      reason: 'state "A": "Nope" is not a state of the definition',
    });
    const fanout = machine({
      Fanout: { Type: 'Map', End: true, ItemProcessor: machine({ Each: { Type: 'Pass', Next: 'Fanout' } }) },
    });
    expect(validate(fanout)).toContainEqual({
      field: 'definition.States.Fanout.ItemProcessor.States.Each.Next',
      reason:
        'state "Each": "Fanout" is not a state of the ItemProcessor of "Fanout"; a transition cannot leave its branch or Map processor',
    });
    expect(
      fields(
        machine({
          A: task('manager:migration:get', {
            End: true,
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Z' }],
          }),
        }),
      ),
    ).toEqual(['definition.States.A.Catch.0.Next']);
    expect(fields({ StartAt: 'Z', States: { A: { Type: 'Succeed' } } })).toContain('definition.StartAt');
  });

  it('names bad paths and payload templates, and states asl-validator finds wrong without a path', () => {
    expect(validate(machine({ A: { Type: 'Pass', InputPath: 'foo', End: true } }))).toEqual([
      { field: 'definition.States.A.InputPath', reason: 'state "A": must be a JSONPath, like $.field' },
    ]);
    expect(
      fields(
        machine({ A: task('manager:migration:get', { End: true, Parameters: { input: { 'a.$': 'bad' } } }) }),
      ),
    ).toEqual(['definition.States.A.Parameters.input.a.$']);
    expect(validate(machine({ A: { Type: 'Wait', End: true } }))).toEqual([
      {
        field: 'definition.States.A',
        reason: 'state "A": must have exactly one of Seconds, SecondsPath, Timestamp, TimestampPath',
      },
    ]);
    expect(validate(machine({ A: { Type: 'Pass', End: true }, B: { Type: 'Pass', End: true } }))).toEqual([
      {
        field: 'definition.States.B',
        reason: 'state "B": is not reachable: no StartAt, Next or Default names it',
      },
    ]);
    expect(validate(machine({ A: { Type: 'Pass', Next: 'A' } }))).toEqual([
      {
        field: 'definition.States',
        reason: 'the definition has no terminal state (End: true, Succeed or Fail)',
      },
    ]);
    expect(fields(machine({ A: { Type: 'Pass', End: true, Parameters: { x: 1, 'x.$': '$.y' } } }))).toEqual([
      'definition.States.A.Parameters.x.$',
    ]);
    expect(validate(machine({ A: { End: true } }))).toEqual([
      {
        field: 'definition.States.A.Type',
        reason: 'state "A": must be one of: Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map',
      },
    ]);
    // What makes asl-validator itself throw is named too.
    expect(validate(machine({ A: null }))).toEqual([
      { field: 'definition.States.A', reason: 'state "A": must be an object' },
    ]);
    expect(validate({ StartAt: 'A', States: null })).toEqual([
      { field: 'definition.States', reason: 'must be an object of states' },
    ]);
  });
});

describe('validateDefinition: the platform rules', () => {
  it('Task Resource: only a declared manager and one of its actions', () => {
    const cases: Array<[unknown, string]> = [
      [
        'arn:aws:lambda:us-east-1:123456789012:function:mine',
        'state "Reindex": only manager actions (manager:<id>:<action>) may be called',
      ],
      [
        'arn:aws:states:::sns:publish',
        'state "Reindex": only manager actions (manager:<id>:<action>) may be called',
      ],
      [
        'arn:aws:states:us-east-1:123456789012:activity:a',
        'state "Reindex": only manager actions (manager:<id>:<action>) may be called',
      ],
      [{ Ref: 'Fn' }, 'state "Reindex": only manager actions (manager:<id>:<action>) may be called'],
      ['manager:migration', 'state "Reindex": only manager actions (manager:<id>:<action>) may be called'],
      ['manager:nope:get', 'state "Reindex": no manager "nope"; must be one of: migration, notifications'],
      [
        'manager:migration:explode',
        'state "Reindex": manager "migration" has no action "explode"; must be one of: start, get, redrive',
      ],
      [
        'manager:toString:get',
        'state "Reindex": no manager "toString"; must be one of: migration, notifications',
      ],
      [
        'arn:aws:states:::ecs:runTask.sync',
        'state "Reindex": "arn:aws:states:::ecs:runTask.sync" waits for a callback or a job, which is not supported; only manager actions (manager:<id>:<action>) may be called',
      ],
      [
        'arn:aws:states:::lambda:invoke.waitForTaskToken',
        'state "Reindex": "arn:aws:states:::lambda:invoke.waitForTaskToken" waits for a callback or a job, which is not supported; only manager actions (manager:<id>:<action>) may be called',
      ],
    ];
    for (const [resource, reason] of cases) {
      expect(
        validate(machine({ Reindex: { Type: 'Task', Resource: resource, End: true } })),
        String(resource),
      ).toEqual([{ field: 'definition.States.Reindex.Resource', reason }]);
    }
    expect(validate(machine({ Reindex: { Type: 'Task', End: true } }))).toEqual([
      {
        field: 'definition.States.Reindex.Resource',
        reason: 'state "Reindex": Resource is required: a manager action, manager:<id>:<action>',
      },
    ]);
    // Nested Tasks too.
    const nested = machine({
      Fanout: {
        Type: 'Map',
        End: true,
        ItemProcessor: machine({ Each: task('arn:aws:states:::sqs:sendMessage') }),
      },
    });
    expect(fields(nested)).toEqual(['definition.States.Fanout.ItemProcessor.States.Each.Resource']);
  });

  it('refuses JSONata, at the top or on a state', () => {
    expect(validate({ QueryLanguage: 'JSONata', ...machine({ A: { Type: 'Succeed' } }) })).toEqual([
      { field: 'definition.QueryLanguage', reason: 'JSONata is not supported: must be JSONPath (or absent)' },
    ]);
    expect(validate(machine({ A: { Type: 'Pass', QueryLanguage: 'JSONata', End: true } }))).toEqual([
      {
        field: 'definition.States.A.QueryLanguage',
        reason: 'state "A": JSONata is not supported: must be JSONPath (or absent)',
      },
    ]);
    expect(validate({ QueryLanguage: 'JSONPath', ...machine({ A: { Type: 'Succeed' } }) })).toEqual([]);
  });

  it('state names unique across branches and processors, 1–80 characters', () => {
    const dup = machine({
      A: { Type: 'Parallel', End: true, Branches: [machine({ A: { Type: 'Succeed' } })] },
    });
    expect(validate(dup)).toEqual([
      {
        field: 'definition.States.A.Branches.0.States.A',
        reason:
          'state "A": the name is already used by definition.States.A; state names must be unique in the whole definition',
      },
    ]);
    const inMap = machine({
      B: { Type: 'Map', End: true, ItemProcessor: machine({ B: { Type: 'Succeed' } }) },
    });
    expect(fields(inMap)).toEqual(['definition.States.B.ItemProcessor.States.B']);
    const long = 'x'.repeat(81);
    expect(validate(machine({ [long]: { Type: 'Succeed' } }))).toEqual([
      { field: `definition.States.${long}`, reason: `state "${long}": a state name must be 1–80 characters` },
    ]);
    expect(validate(machine({ ['x'.repeat(80)]: { Type: 'Succeed' } }))).toEqual([]);
    expect(fields(machine({ '': { Type: 'Succeed' } }))).toEqual(['definition.States.']);
  });

  it('refuses a distributed Map', () => {
    const map = (more: Record<string, unknown>, config?: unknown) =>
      machine({
        M: {
          Type: 'Map',
          End: true,
          ItemProcessor: {
            ...(config ? { ProcessorConfig: config } : {}),
            ...machine({ B: { Type: 'Succeed' } }),
          },
          ...more,
        },
      });
    for (const key of ['ItemReader', 'ItemWriter', 'ResultWriter']) {
      expect(
        fields(
          map({
            [key]: { Resource: 'arn:aws:states:::s3:getObject', Parameters: { Bucket: 'b', Key: 'k' } },
          }),
        ),
      ).toContain(`definition.States.M.${key}`);
    }
    expect(validate(map({}, { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }))).toEqual([
      {
        field: 'definition.States.M.ItemProcessor.ProcessorConfig.Mode',
        reason: 'state "M": a distributed Map is not supported: must be INLINE',
      },
    ]);
    expect(validate(map({}, { Mode: 'INLINE' }))).toEqual([]);
  });

  it('bounds: 1 MiB of JSON, 500 states', () => {
    const big = machine({ A: { Type: 'Pass', Result: 'x'.repeat(MAX_DEFINITION_BYTES), End: true } });
    expect(validate(big)).toEqual([
      {
        field: 'definition',
        reason: `is ${JSON.stringify(big).length} bytes of JSON; at most 1048576 (Step Functions' limit)`,
      },
    ]);
    const chain = (n: number) =>
      machine(
        Object.fromEntries(
          Array.from({ length: n }, (_, i) => [
            `S${i}`,
            i === n - 1 ? { Type: 'Succeed' } : { Type: 'Pass', Next: `S${i + 1}` },
          ]),
        ),
      );
    expect(validate(chain(500))).toEqual([]);
    expect(validate(chain(501))).toEqual([
      { field: 'definition.States', reason: 'has 501 states in all; at most 500' },
    ]);
  });
});

describe('translateDefinition', () => {
  const ARNS = {
    migration: 'arn:aws:lambda:us-east-1:123456789012:function:vp-dev-migration-manager:live',
    notifications: 'arn:aws:lambda:us-east-1:123456789012:function:vp-dev-notifications-manager:live',
  };

  it('turns each manager Task into the contract task call on its live alias, with or without Parameters', () => {
    const definition = machine({
      Start: task('manager:migration:start', {
        Parameters: { 'exportKey.$': '$.key', fixed: 1 },
        ResultPath: '$.job',
        Retry: [{ ErrorEquals: ['ManagerStopped'] }],
        Next: 'Fan',
      }),
      Fan: {
        Type: 'Parallel',
        Branches: [machine({ Tell: task('manager:notifications:notify') })],
        Next: 'Each',
      },
      Each: {
        Type: 'Map',
        ItemsPath: '$.jobs',
        Iterator: machine({ Get: task('manager:migration:get', { InputPath: '$.id', End: true }) }),
        End: true,
      },
    });
    const before = structuredClone(definition);

    expect(translateDefinition(definition, ARNS)).toEqual({
      StartAt: 'Start',
      States: {
        Start: {
          Type: 'Task',
          Resource: ARNS.migration,
          Parameters: {
            call: 'task',
            action: 'start',
            input: { 'exportKey.$': '$.key', fixed: 1 },
            'workflow.$': '$$.Execution.Id',
          },
          ResultPath: '$.job',
          Retry: [{ ErrorEquals: ['ManagerStopped'] }],
          Next: 'Fan',
        },
        Fan: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'Tell',
              States: {
                Tell: {
                  Type: 'Task',
                  Resource: ARNS.notifications,
                  Parameters: {
                    call: 'task',
                    action: 'notify',
                    'input.$': '$',
                    'workflow.$': '$$.Execution.Id',
                  },
                  End: true,
                },
              },
            },
          ],
          Next: 'Each',
        },
        Each: {
          Type: 'Map',
          ItemsPath: '$.jobs',
          Iterator: {
            StartAt: 'Get',
            States: {
              Get: {
                Type: 'Task',
                Resource: ARNS.migration,
                Parameters: { call: 'task', action: 'get', 'input.$': '$', 'workflow.$': '$$.Execution.Id' },
                InputPath: '$.id',
                End: true,
              },
            },
          },
          End: true,
        },
      },
    });
    // A copy: what was validated and stored is unchanged.
    expect(definition).toEqual(before);
  });

  it('keeps every other state identical (property)', () => {
    expect(translateDefinition(EVERY_STATE, ARNS)).toMatchObject({
      States: {
        'Done?': EVERY_STATE.States['Done?'],
        Later: EVERY_STATE.States.Later,
        Failed: EVERY_STATE.States.Failed,
      },
    });
    const other = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 10 }),
      fc.record({
        Type: fc.constantFrom('Pass', 'Wait', 'Succeed', 'Fail', 'Choice'),
        Comment: fc.string(),
        Result: fc.jsonValue(),
      }),
      { maxKeys: 8 },
    );
    fc.assert(
      fc.property(other, (states) => {
        const definition = { StartAt: 'T', States: { ...states, T: task('manager:migration:get') } };
        const translated = translateDefinition(definition, ARNS) as { States: Record<string, unknown> };
        for (const [name, state] of Object.entries(states)) {
          if (name !== 'T') expect(translated.States[name]).toEqual(state);
        }
      }),
    );
  });
});

describe('tasksOf and taskManagers', () => {
  it('lists the manager Tasks at any depth; the distinct managers, sorted', () => {
    expect(tasksOf(EVERY_STATE).map((t) => [t.state, t.field, t.manager, t.action])).toEqual([
      ['Start', 'definition.States.Start.Resource', 'migration', 'start'],
      ['Poll', 'definition.States.Poll.Resource', 'migration', 'get'],
      ['Notify', 'definition.States.Fanout.ItemProcessor.States.Notify.Resource', 'notifications', 'notify'],
      ['Tell', 'definition.States.Tell.Resource', 'notifications', 'notify'],
    ]);
    expect(taskManagers(EVERY_STATE)).toEqual(['migration', 'notifications']);
    expect(taskManagers(machine({ A: { Type: 'Succeed' } }))).toEqual([]);
    expect(taskManagers(machine({ A: task('arn:aws:states:::sns:publish') }))).toEqual([]);
    expect(taskManagers('nope')).toEqual([]);
  });
});

describe('never throws (properties)', () => {
  const rooted = (issues: ReturnType<typeof validate>) =>
    issues.every(
      (i) => (i.field === 'definition' || i.field.startsWith('definition.')) && i.reason.length > 0,
    );

  it('on arbitrary JSON: issues always rooted at `definition`', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ StartAt: fc.jsonValue(), States: fc.jsonValue() })),
        (raw) => {
          const issues = validate(raw);
          expect(rooted(issues)).toBe(true);
          if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) expect(issues).toHaveLength(1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('on mutated valid definitions: issues rooted at `definition`, naming a field', () => {
    const text = JSON.stringify(EVERY_STATE);
    const keys = [...new Set(text.match(/"[^"]+"(?=:)/g) ?? [])].map((k) => JSON.parse(k) as string);
    /** Replaces the value of one occurrence of a key somewhere in the definition. */
    const mutate = (value: unknown, key: string, replacement: unknown, nth: { n: number }): unknown => {
      if (Array.isArray(value)) return value.map((v) => mutate(v, key, replacement, nth));
      if (typeof value !== 'object' || value === null) return value;
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          k,
          k === key && nth.n-- === 0 ? replacement : mutate(v, key, replacement, nth),
        ]),
      );
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...keys),
        fc.nat(3),
        fc.oneof(
          fc.jsonValue(),
          fc.constantFrom('JSONata', 'manager:x:y', 'Nope', 'Map', 'Parallel', '$$.x', null),
        ),
        (key, n, replacement) => {
          const mutated = mutate(structuredClone(EVERY_STATE), key, replacement, { n });
          const issues = validate(mutated);
          expect(rooted(issues)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
