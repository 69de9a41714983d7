// The CPU thread pool (native/runtime/thread_pool.h) in the Node-free native test build/sotr_test_thread_pool
// (tests/native/test_thread_pool.cpp): every task once, regions back to back (workers spinning) and after a pause
// (workers asleep), nested calls, several callers, destruction; once with the default spin, once with none.
import { test } from 'uvu';
import { assertNativeChecks } from '../helpers/native_checks.mjs';

test('native thread pool test: every check passes (workers spin before sleeping)', () => assertNativeChecks('sotr_test_thread_pool', 60));

test('native thread pool test with SOTR_POOL_SPIN_US=0 (workers sleep at once)', () =>
  assertNativeChecks('sotr_test_thread_pool', 60, { SOTR_POOL_SPIN_US: '0' }));

test.run();
