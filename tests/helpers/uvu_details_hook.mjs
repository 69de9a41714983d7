// uvu 0.5's reporter prints a failing test's `error.details` with details.split('\n'): an error whose `details` is
// an object (a SotrError's structured facts) makes the reporter itself throw, so the file prints 0/N with no FAIL
// block, and the failure's message is never shown (tests/run.mjs counts the file as failed all the same). This hook
// (node --import) has uvu print such details as JSON: tests/run.mjs runs a file again with it when the file's
// failures were not shown. Not loaded every time: a module hook costs ~80 ms a file.
import { register } from 'node:module';

register(new URL('./uvu_details_loader.mjs', import.meta.url));
