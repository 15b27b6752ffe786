/**
 * asl-validator 4.0.0 ships JavaScript only (no typings): its default export, as its README and
 * src/types.ts describe it.
 */
declare module 'asl-validator' {
  interface StateMachineError {
    /** E.g. SCHEMA_VALIDATION_FAILED, MISSING_TRANSITION_TARGET, WAIT_DURATION. */
    'Error code': string;
    Message: string;
    /** Schema errors only: `instancePath` is a JSON pointer into the definition. */
    schemaError?: { instancePath: string; schemaPath: string };
  }
  function validator(
    definition: unknown,
    options?: { checkPaths: boolean; checkArn: boolean },
  ): { isValid: boolean; errors: StateMachineError[]; errorsText(separator?: string): string };
  export default validator;
}
