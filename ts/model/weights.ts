/**
 * Turns a checkpoint's host entries into the device tensors the network uses, following the official key
 * structure (§12): FrozenBN folded into per-channel conv scale/shift, Linear heads as 1×1 convs, the DCN offset
 * conv split into its offset and modulation parts, ReZero gates read as numbers.
 */
import { CheckpointKeyError } from '../errors';
import type { CheckpointEntry } from '../checkpoint/types';
import { Tensor, bf16ToFloat, halfToFloat } from '../tensor';
import type { SotrConfig } from './config';
import type { TwinAttentionWeights } from '../ops/twin_attention';

export interface ConvW {
  weight: Tensor;
  bias?: Tensor;
  scale?: Tensor;
  shift?: Tensor;
}

export interface BlockW {
  conv1: ConvW;
  conv2: ConvW;
  conv3: ConvW;
  shortcut?: ConvW;
  /** DCN: the 2·9·G offset channels and the 9·G modulation channels of conv2_offset, as two convs. */
  offset?: ConvW;
  modulation?: ConvW;
  stride: number;
}

export interface FfW {
  /** fn.0 (conv → LeakyReLU) */
  conv0: ConvW;
  /** fn.2 with the ReZero gate folded into the epilogue: (conv + bias)·g */
  conv2: ConvW;
  g: number;
}

export interface TransformerLayerW {
  attn: TwinAttentionWeights;
  ff: [FfW, FfW];
}

export interface GnConvW {
  weight: Tensor;
  gnWeight: Tensor;
  gnBias: Tensor;
}

export interface SotrWeights {
  stem: ConvW;
  stages: BlockW[][];
  fpnLateral: ConvW[];
  fpnOutput: ConvW[];
  transformer: TransformerLayerW[];
  catePred: ConvW;
  kernelPred: ConvW;
  /** maskLevels[l][j]: conv j of level l (CGR). */
  maskLevels: GnConvW[][];
  maskPred: GnConvW;
}

type Entries = ReadonlyMap<string, CheckpointEntry>;

/** float32 copy of an entry's values (float16/bfloat16/float64 converted). */
export function entryFloat32(name: string, e: CheckpointEntry): Float32Array {
  switch (e.dtype) {
    case 'float32':
      return e.data as Float32Array;
    case 'float64':
      return Float32Array.from(e.data as Float64Array);
    case 'float16':
      return halfToFloat(e.data as Uint16Array);
    case 'bfloat16':
      return bf16ToFloat(e.data as Uint16Array);
    default:
      throw new CheckpointKeyError(`${name}: expected a floating-point tensor, found ${e.dtype}`, { details: { key: name } });
  }
}

export class WeightBuilder {
  readonly tensors: Tensor[] = [];
  constructor(
    private readonly entries: Entries,
    private readonly device: string,
  ) {}

  host(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointKeyError(`missing key ${name}`, { details: { missing: [name] } });
    return entryFloat32(name, e);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): number[] {
    return [...this.entries.get(name)!.shape];
  }

  upload(data: Float32Array, shape: number[]): Tensor {
    const t = Tensor.from(data, shape, { device: this.device });
    this.tensors.push(t);
    return t;
  }

  param(name: string, shape?: number[]): Tensor {
    return this.upload(this.host(name), shape ?? this.shape(name));
  }

  scalar(name: string): number {
    const d = this.host(name);
    if (d.length !== 1) throw new CheckpointKeyError(`${name}: expected a scalar, found ${d.length} values`);
    return d[0]!;
  }

  /** A conv followed by FrozenBatchNorm2d: scale = w / sqrt(var + eps), shift = b − mean·scale (float32). */
  convBn(prefix: string, eps: number): ConvW {
    const weight = this.param(`${prefix}.weight`);
    const w = this.host(`${prefix}.norm.weight`);
    const b = this.host(`${prefix}.norm.bias`);
    const m = this.host(`${prefix}.norm.running_mean`);
    const v = this.host(`${prefix}.norm.running_var`);
    const scale = new Float32Array(w.length);
    const shift = new Float32Array(w.length);
    const f = Math.fround;
    for (let i = 0; i < w.length; i++) {
      scale[i] = f(w[i]! * f(1 / f(Math.sqrt(f(v[i]! + eps)))));
      shift[i] = f(b[i]! - f(m[i]! * scale[i]!));
    }
    return { weight, scale: this.upload(scale, [w.length]), shift: this.upload(shift, [w.length]) };
  }

  convBias(prefix: string): ConvW {
    return { weight: this.param(`${prefix}.weight`), bias: this.param(`${prefix}.bias`) };
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
  }
}

const BOTTOM = 'backbone.bottom_up';
const TBLK = 'cate_head.transformer.layers.blocks';

/** Builds every device tensor of the model; on failure, frees what was built. */
export function buildWeights(entries: Entries, cfg: SotrConfig, device: string): { weights: SotrWeights; tensors: Tensor[] } {
  const b = new WeightBuilder(entries, device);
  try {
    const eps = cfg.frozenBnEps;
    const stem = b.convBn(`${BOTTOM}.stem.conv1`, eps);
    const stages: BlockW[][] = [];
    for (let s = 0; s < 4; s++) {
      const blocks: BlockW[] = [];
      for (let k = 0; k < cfg.blocksPerStage[s]!; k++) {
        const p = `${BOTTOM}.res${s + 2}.${k}`;
        const stride = s > 0 && k === 0 ? 2 : 1;
        const blk: BlockW = {
          conv1: b.convBn(`${p}.conv1`, eps),
          conv2: b.convBn(`${p}.conv2`, eps),
          conv3: b.convBn(`${p}.conv3`, eps),
          stride,
        };
        if (b.has(`${p}.shortcut.weight`)) blk.shortcut = b.convBn(`${p}.shortcut`, eps);
        if (cfg.dcnBlocks[s]?.[k]) {
          const ow = b.host(`${p}.conv2_offset.weight`);
          const ob = b.host(`${p}.conv2_offset.bias`);
          const [O, C, kh, kw] = b.shape(`${p}.conv2_offset.weight`) as [number, number, number, number];
          const G = O / 27;
          const per = C * kh * kw;
          blk.offset = {
            weight: b.upload(ow.slice(0, 18 * G * per), [18 * G, C, kh, kw]),
            bias: b.upload(ob.slice(0, 18 * G), [18 * G]),
          };
          blk.modulation = {
            weight: b.upload(ow.slice(18 * G * per), [9 * G, C, kh, kw]),
            bias: b.upload(ob.slice(18 * G), [9 * G]),
          };
        }
        blocks.push(blk);
      }
      stages.push(blocks);
    }
    const fpnLateral: ConvW[] = [];
    const fpnOutput: ConvW[] = [];
    for (let l = 2; l <= 5; l++) {
      fpnLateral.push(b.convBias(`backbone.fpn_lateral${l}`));
      fpnOutput.push(b.convBias(`backbone.fpn_output${l}`));
    }
    const transformer: TransformerLayerW[] = [];
    for (let L = 0; L < cfg.transformerDepth; L++) {
      const attn = (h: number) => {
        const p = `${TBLK}.${2 * L}.${h}.fn`;
        return {
          w: {
            q: b.param(`${p}.fn.to_q.weight`),
            kv: b.param(`${p}.fn.to_kv.weight`),
            out: b.param(`${p}.fn.to_out.weight`),
            outBias: b.param(`${p}.fn.to_out.bias`),
          },
          g: b.scalar(`${p}.g`),
        };
      };
      const col = attn(0);
      const row = attn(1);
      const ff = (h: number): FfW => {
        const p = `${TBLK}.${2 * L + 1}.${h}`;
        const g = b.scalar(`${p}.g`);
        const C = b.shape(`${p}.fn.2.bias`)[0]!;
        return {
          conv0: b.convBias(`${p}.fn.0`),
          conv2: { ...b.convBias(`${p}.fn.2`), scale: b.upload(new Float32Array(C).fill(g), [C]) },
          g,
        };
      };
      transformer.push({ attn: { col: col.w, row: row.w, gCol: col.g, gRow: row.g }, ff: [ff(0), ff(1)] });
    }
    const F = cfg.fpnChannels;
    const catePred: ConvW = {
      weight: b.upload(b.host('cate_head.cate_pred.weight'), [cfg.numClasses, F, 1, 1]),
      bias: b.param('cate_head.cate_pred.bias'),
    };
    const kernelPred: ConvW = {
      weight: b.upload(b.host('cate_head.kernel_pred.weight'), [cfg.numKernels, F, 1, 1]),
      bias: b.param('cate_head.kernel_pred.bias'),
    };
    const gn = (p: string): GnConvW => ({ weight: b.param(`${p}.0.weight`), gnWeight: b.param(`${p}.1.weight`), gnBias: b.param(`${p}.1.bias`) });
    const maskLevels: GnConvW[][] = [];
    for (let l = 0; l < 4; l++) {
      const convs: GnConvW[] = [];
      for (let j = 0; j < Math.max(1, l); j++) convs.push(gn(`mask_head.convs_all_levels.${l}.conv${j}`));
      maskLevels.push(convs);
    }
    const maskPred = gn('mask_head.conv_pred');
    return {
      weights: { stem, stages, fpnLateral, fpnOutput, transformer, catePred, kernelPred, maskLevels, maskPred },
      tensors: b.tensors,
    };
  } catch (e) {
    b.dispose();
    throw e;
  }
}
