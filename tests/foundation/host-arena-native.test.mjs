// The CPU backend's host arena (native/runtime/host_arena.h) in the Node-free native test build/sotr_test_host_arena
// (tests/native/test_host_arena.cpp): first fit, splitting and merging, growth from the top, trim, a full arena,
// random churn (no overlap, contents kept, the high-water mark near the live peak). Through the addon: tensor.test.mjs.
import { test } from 'uvu';
import { assertNativeChecks } from '../helpers/native_checks.mjs';

test('native host arena test: every check passes', () => assertNativeChecks('sotr_test_host_arena', 30));

test.run();
