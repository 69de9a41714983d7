// Checks a table of calls that must fail with a typed error: [() => call, ErrorClass, /message pattern/].
// Each call may throw synchronously or reject; the error must be an instance of the class, match the pattern and
// carry a stable string `code`.
import * as assert from 'uvu/assert';

export async function expectTypedErrors(cases) {
  for (const [fn, Cls, re] of cases) {
    try {
      await fn();
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.instance(e, Cls, `${e.name}: ${e.message}`);
      assert.match(e.message, re);
      assert.type(e.code, 'string');
    }
  }
}
