/**
 * Small element-wise and data-movement ops of the network. Float32, any shape;
 * binary ops broadcast like numpy/torch (up to 6 dimensions) and accept a
 * number as the second operand.
 */
import type { Tensor } from '../tensor';
import { checkTensor, OP_OPTION_KEYS, runOp, type OpOptions } from './run';
import { SotrRangeError, SotrTypeError } from '../errors';
import { checkOptions } from '../options';

/** max(x, 0). */
export async function relu(x: Tensor, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('relu', options, OP_OPTION_KEYS);
  checkTensor('relu', 'x', x);
  return (await runOp('relu', [x], {}, options))[0];
}

/** x > 0 ? x : x * negativeSlope (default 0.01). */
export async function leakyRelu(x: Tensor, options: OpOptions & { negativeSlope?: number } = {}): Promise<Tensor> {
  checkOptions('leakyRelu', options, [...OP_OPTION_KEYS, 'negativeSlope']);
  checkTensor('leakyRelu', 'x', x);
  return (await runOp('leakyRelu', [x], { negativeSlope: options?.negativeSlope }, options))[0];
}

/** 1 / (1 + exp(-x)). */
export async function sigmoid(x: Tensor, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('sigmoid', options, OP_OPTION_KEYS);
  checkTensor('sigmoid', 'x', x);
  return (await runOp('sigmoid', [x], {}, options))[0];
}

async function binary(op: string, a: Tensor, b: Tensor | number, attrs: Record<string, number | undefined>, options: OpOptions) {
  checkOptions(op, options, op === 'add' || op === 'sub' ? [...OP_OPTION_KEYS, 'alpha'] : OP_OPTION_KEYS);
  checkTensor(op, 'a', a);
  if (typeof b === 'number') {
    // Checked here: the native op would name the attribute that carries it ('other'), which callers never see.
    if (!Number.isFinite(b)) throw new SotrRangeError(`${op}: b must be a finite number or a Tensor, received ${b}`);
    return (await runOp(op, [a, null], { ...attrs, other: b }, options))[0];
  }
  if (b === undefined || b === null) throw new SotrTypeError(`${op}: b is required (a Tensor or a number)`);
  checkTensor(op, 'b', b);
  return (await runOp(op, [a, b], attrs, options))[0];
}

/** a + alpha * b (torch.add), broadcasting. */
export function add(a: Tensor, b: Tensor | number, options: OpOptions & { alpha?: number } = {}): Promise<Tensor> {
  return binary('add', a, b, { alpha: options?.alpha }, options);
}

/** a - alpha * b (torch.sub), broadcasting. */
export function sub(a: Tensor, b: Tensor | number, options: OpOptions & { alpha?: number } = {}): Promise<Tensor> {
  return binary('sub', a, b, { alpha: options?.alpha }, options);
}

/** a * b, broadcasting. */
export function mul(a: Tensor, b: Tensor | number, options: OpOptions = {}): Promise<Tensor> {
  return binary('mul', a, b, {}, options);
}

/** a / b, broadcasting. */
export function div(a: Tensor, b: Tensor | number, options: OpOptions = {}): Promise<Tensor> {
  return binary('div', a, b, {}, options);
}

/** torch.cat(tensors, axis); e.g. the transformer's width duplication concat([x, x], 3). */
export async function concat(tensors: readonly Tensor[], axis: number, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('concat', options, OP_OPTION_KEYS);
  if (!Array.isArray(tensors) || tensors.length === 0) throw new SotrTypeError('concat: tensors must be a non-empty array of Tensors');
  tensors.forEach((t, i) => checkTensor('concat', `tensors[${i}]`, t));
  if (typeof axis !== 'number') throw new SotrTypeError('concat: axis must be a number');
  return (await runOp('concat', [...tensors], { axis }, options))[0];
}

/** x[..., start:end, ...] along `axis` (Python slice semantics, step 1). */
export async function slice(x: Tensor, axis: number, start: number, end?: number, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('slice', options, OP_OPTION_KEYS);
  checkTensor('slice', 'x', x);
  if (typeof axis !== 'number' || typeof start !== 'number') throw new SotrTypeError('slice: axis and start must be numbers');
  return (await runOp('slice', [x], { axis, start, end }, options))[0];
}

/** (x[..., :W] + x[..., W:]) / 2 over the last axis (2W): the transformer's halves averaging. */
export async function meanWidthHalves(x: Tensor, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('meanWidthHalves', options, OP_OPTION_KEYS);
  checkTensor('meanWidthHalves', 'x', x);
  return (await runOp('meanWidthHalves', [x], {}, options))[0];
}
