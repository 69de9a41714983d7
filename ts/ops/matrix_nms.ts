import { DTypeError, ShapeError, SotrRangeError, SotrTypeError } from '../errors';
import { BitMasks, DeviceBitMasks } from '../masks/bitmasks';
import { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf, shownValue } from '../options';

/** The decay function of matrixNms (see MatrixNmsOptions.kernel). */
export type MatrixNmsKernel = 'gaussian' | 'linear';

/** Options of matrixNms(). */
export interface MatrixNmsOptions extends OpOptions {
  /** 'gaussian' (default): exp(-sigma IoU^2) / exp(-sigma comp^2); 'linear': (1 - IoU) / (1 - comp). */
  kernel?: MatrixNmsKernel | undefined;
  /** Gaussian sigma (default 2, as SOTR), >= 0. */
  sigma?: number | undefined;
  /** Where to run for host BitMasks (default 'cpu'); tensors run on their own device. */
  device?: string | undefined;
}

/** The masks matrixNms takes: a uint8 [N, H, W] tensor (nonzero = set), a BitMasks or a DeviceBitMasks. */
export type MatrixNmsMasks = Tensor | BitMasks | DeviceBitMasks;

async function hostArray(
  name: string,
  v: unknown,
  n: number,
  kind: 'int32' | 'float32',
): Promise<{ data: Int32Array | Float32Array; tensor: Tensor | null }> {
  if (v instanceof Tensor) {
    checkTensor('matrixNms', name, v);
    if (v.dtype !== kind) throw new DTypeError(`matrixNms: ${name} must be ${kind}, received ${v.dtype}`);
    if (v.shape.length !== 1 || v.shape[0] !== n) throw new ShapeError(`matrixNms: ${name} must have shape [${n}], received [${v.shape.join(', ')}]`);
    return { data: (await v.data()) as Int32Array | Float32Array, tensor: v };
  }
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number') {
    throw new SotrTypeError(`matrixNms: ${name} must be a Tensor, a typed array or an array of numbers`);
  }
  const a = v as ArrayLike<number>;
  if (a.length !== n) throw new ShapeError(`matrixNms: ${name} must hold ${n} values (one per mask), received ${a.length}`);
  if (kind === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = a[i];
      if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647) throw new SotrRangeError(`matrixNms: ${name}[${i}] = ${x} is not an int32`);
      out[i] = x;
    }
    return { data: out, tensor: null };
  }
  return { data: a instanceof Float32Array ? a : Float32Array.from(a), tensor: null };
}

/**
 * Matrix NMS of SOLOv2 / SOTR (class-aware): returns the decayed scores
 * scores[j] * decay[j] for masks sorted by descending score.
 *
 * masks: binary [N, H, W] uint8 tensor (nonzero = set), a BitMasks, or a
 * DeviceBitMasks (runs on its device without a copy). labels: int32 [N];
 * scores: float32 [N] in descending order (else a RangeError). N = 0 and 1
 * work; a pair with zero union has IoU 0. Linear kernel: a mask that
 * duplicates a higher-scored mask of its class (compensation 1) does not
 * suppress others (the reference divides by zero there); its duplicates are
 * suppressed to 0 by the first mask of the group. See docs/masks.md.
 */
export async function matrixNms(
  masks: MatrixNmsMasks,
  labels: Tensor | Int32Array | ArrayLike<number>,
  scores: Tensor | Float32Array | ArrayLike<number>,
  options: MatrixNmsOptions = {},
): Promise<Float32Array> {
  checkOptions('matrixNms', options, keysOf<MatrixNmsOptions>()('precision', 'signal', 'kernel', 'sigma', 'device'));
  const { kernel, sigma } = options;
  if (kernel !== undefined && kernel !== 'gaussian' && kernel !== 'linear') {
    throw new SotrRangeError(`matrixNms: kernel must be 'gaussian' or 'linear', received ${shownValue(kernel)}`);
  }
  if (sigma !== undefined && (typeof sigma !== 'number' || !(sigma >= 0) || !Number.isFinite(sigma))) {
    throw new SotrRangeError(`matrixNms: sigma must be a finite number >= 0, received ${shownValue(sigma)}`);
  }

  let n: number;
  let device: string;
  let maskTensor: Tensor;
  let areas: Tensor | null = null;
  let boxes: Tensor | null = null;
  let width: number | undefined;
  const owned: Tensor[] = [];
  if (masks instanceof Tensor) {
    checkTensor('matrixNms', 'masks', masks);
    if (masks.dtype !== 'uint8') throw new DTypeError(`matrixNms: a masks tensor must be uint8 [N, H, W], received ${masks.dtype}`);
    if (masks.shape.length !== 3) throw new ShapeError(`matrixNms: masks must be [N, H, W], received [${masks.shape.join(', ')}]`);
    n = masks.shape[0];
    device = masks.device;
    maskTensor = masks;
  } else if (masks instanceof DeviceBitMasks) {
    n = masks.count;
    device = masks.device;
    maskTensor = masks.bits;
    areas = masks.areas;
    boxes = masks.boxes;
    width = masks.width;
  } else if (masks instanceof BitMasks) {
    n = masks.count;
    device = options.device ?? 'cpu';
    if (typeof device !== 'string') throw new SotrTypeError('matrixNms: options.device must be a string');
    width = masks.width;
  } else {
    throw new SotrTypeError('matrixNms: masks must be a uint8 Tensor [N, H, W], a BitMasks or a DeviceBitMasks');
  }

  const lab = await hostArray('labels', labels, n, 'int32');
  const sc = await hostArray('scores', scores, n, 'float32');
  const s = sc.data;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(s[i])) throw new SotrRangeError(`matrixNms: scores[${i}] is NaN`);
    if (i > 0 && s[i] > s[i - 1]) {
      throw new SotrRangeError(`matrixNms: scores must be sorted in descending order, but scores[${i}] = ${s[i]} > scores[${i - 1}] = ${s[i - 1]}`);
    }
  }
  if (n === 0) return new Float32Array(0);

  try {
    if (masks instanceof BitMasks) {
      maskTensor = masks.toTensor(device);
      owned.push(maskTensor);
      areas = Tensor.from(masks.areas, [n], { device });
      boxes = Tensor.from(masks.boxes, [n, 4], { device });
      owned.push(areas, boxes);
      device = maskTensor.device;
    }
    const onDevice = (x: { data: Int32Array | Float32Array; tensor: Tensor | null }) => {
      if (x.tensor && x.tensor.device === device) return x.tensor;
      const t = Tensor.from(x.data, [n], { device });
      owned.push(t);
      return t;
    };
    const [out] = await runOp(
      'matrix_nms',
      [maskTensor!, onDevice(lab), onDevice(sc), areas, boxes],
      { kernel, sigma, width },
      options,
    );
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  } finally {
    for (const t of owned) t.dispose();
  }
}
