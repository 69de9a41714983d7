// The op profiler's device-timestamp path (CUDA events in production) with a fake timer, in the Node-free
// native test build/sotr_test_op_profiler (tests/native/test_op_profiler.cpp): resolution order, idle gaps, the
// lazy resolve every 1024 pending ops, pool exhaustion, every timestamp released, filters, threads.
import { test } from 'uvu';
import { assertNativeChecks } from '../helpers/native_checks.mjs';

test('native op profiler test (fake device timer): every check passes', () => assertNativeChecks('sotr_test_op_profiler', 30));

test.run();
