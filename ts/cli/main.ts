#!/usr/bin/env node
/**
 * The `sotr` command. Exit codes: 0 ok, 1 usage or configuration error,
 * 2 some images failed, 130 interrupted (see README.md).
 */
import { EXIT, MAIN_USAGE, USAGES, UsageError, packageVersion } from './args';
import type { CliIO } from './predict';
import type { SegmenterFactory } from './segmenter';

export interface CliDeps {
  io?: CliIO;
  /** The model behind `predict` (tests pass stand-ins). */
  segmenter?: SegmenterFactory;
}

/** Runs the command line `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  const io: CliIO = deps.io ?? { stdout: process.stdout, stderr: process.stderr };
  // A reader that closes the pipe early (`sotr eval ... | head -1`): the writes that follow are dropped quietly
  // rather than an unhandled EPIPE with a stack; predict --out - also stops its work (see predict.ts).
  if (io.stdout.listenerCount('error') === 0) {
    io.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') io.stderr.write(`sotr: stdout: ${e.message}\n`);
    });
  }
  // The same for the messages (`sotr predict ... 2>&1 | head`): the work goes on and its results still reach --out;
  // an unhandled EPIPE on stderr ended the run with exit 1 mid-way (and left convert's temporary file).
  if (io.stderr.listenerCount('error') === 0) io.stderr.on('error', () => {});
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
        io.stderr.write(MAIN_USAGE + '\n');
        return EXIT.usage;
      case '-h':
      case '--help':
        io.stdout.write(MAIN_USAGE + '\n');
        return EXIT.ok;
      case 'help': {
        const topic = rest[0] === '-h' || rest[0] === '--help' ? 'help' : rest[0];
        if (topic && !USAGES[topic]) throw new UsageError(`no command '${topic}'`);
        io.stdout.write((topic ? USAGES[topic] : MAIN_USAGE) + '\n');
        return EXIT.ok;
      }
      case '-v':
      case '--version':
        io.stdout.write(packageVersion() + '\n');
        return EXIT.ok;
      case 'info':
        return (await import('./info')).infoCommand(rest, io);
      case 'inspect':
        return await (await import('./checkpoint')).inspectCommand(rest, io);
      case 'convert':
        return await (await import('./checkpoint')).convertCommand(rest, io);
      case 'eval':
        return await (await import('./eval')).evalCommand(rest, io);
      case 'bench':
        return await (await import('./bench')).benchCommand(rest, io);
      case 'predict': {
        const factory = deps.segmenter ?? (await import('./model')).sotrSegmenter;
        return await (await import('./predict')).predictCommand(rest, io, factory);
      }
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const where = e.command ?? (cmd && USAGES[cmd] ? cmd : undefined);
      io.stderr.write(`sotr${where ? ` ${where}` : ''}: ${e.message}\n`);
      if (e.helpHint) io.stderr.write(`run 'sotr ${where ? `${where} ` : ''}--help' for usage\n`);
      return EXIT.usage;
    }
    // Configuration and environment errors (a checkpoint that does not load, a device that is not there, a file
    // that cannot be read): one clear line, code 1. Anything else is a bug: show the stack.
    const err = e as { code?: string; message?: string; stack?: string; syscall?: string };
    if (err?.code || err?.syscall) {
      // A write error already names its code ("--out r.jsonl: no space left on device (ENOSPC)").
      const tag = err.code && !String(err.message).includes(`(${err.code})`) ? `[${err.code}] ` : '';
      io.stderr.write(`sotr${cmd ? ` ${cmd}` : ''}: ${tag}${err.message}\n`);
    } else {
      io.stderr.write(`sotr${cmd ? ` ${cmd}` : ''}: unexpected error: ${err?.stack ?? String(e)}\n`);
    }
    return EXIT.usage;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
