// The TypeScript implementation of SOTR's last post-processing step (the two bilinear resizes of the soft masks,
// crop, threshold) that the native op resizeMasks replaced, kept as the test's reference: the op must match it bit
// for bit. finalMasks returns each mask's bit-packed rows (words32PerRow(W0) words per row, LSB first).
const f32 = Math.fround;
const words32PerRow = (w) => 2 * Math.ceil(w / 64);
export function linearTaps(inSize, outSize, scaleOverride) {
    const scale = f32(scaleOverride ?? inSize / outSize);
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const l1 = new Float32Array(outSize);
    for (let o = 0; o < outSize; o++) {
        let src = f32(f32(scale * f32(o + 0.5)) - 0.5);
        if (src < 0)
            src = 0;
        let a = Math.floor(src);
        if (a > inSize - 1)
            a = inSize - 1;
        let lam = f32(src - a);
        if (lam > 1)
            lam = 1;
        i0[o] = a;
        i1[o] = a < inSize - 1 ? a + 1 : a;
        l1[o] = lam;
    }
    return { i0, i1, l1 };
}
export function composedTaps(inSize, midSize, crop, outSize) {
    const a = linearTaps(inSize, midSize);
    const b = linearTaps(crop, outSize);
    const k = 4;
    const idx = new Int32Array(outSize * k);
    const w = new Float64Array(outSize * k);
    for (let o = 0; o < outSize; o++) {
        const pairs = new Map();
        const addTap = (mid, wm) => {
            const l1 = a.l1[mid];
            const l0 = f32(1 - l1);
            pairs.set(a.i0[mid], (pairs.get(a.i0[mid]) ?? 0) + wm * l0);
            pairs.set(a.i1[mid], (pairs.get(a.i1[mid]) ?? 0) + wm * l1);
        };
        const l1 = b.l1[o];
        addTap(b.i0[o], f32(1 - l1));
        addTap(b.i1[o], l1);
        let j = 0;
        for (const [i, wt] of pairs) {
            idx[o * k + j] = i;
            w[o * k + j] = wt;
            j++;
        }
        for (; j < k; j++) {
            idx[o * k + j] = idx[o * k];
            w[o * k + j] = 0;
        }
    }
    return { idx, w, k };
}
export function finalMasks(soft, n, fh, fw, ratio, h, w, H0, W0, threshold) {
    // F.interpolate(size=(fh·ratio, fw·ratio))[:, :, :h, :w]: slicing past the end keeps what exists.
    const ch = Math.min(h, fh * ratio);
    const cw = Math.min(w, fw * ratio);
    const ty = composedTaps(fh, fh * ratio, ch, H0);
    const tx = composedTaps(fw, fw * ratio, cw, W0);
    // Per output index, the smallest and largest input index with a positive weight (monotone in the output).
    const span = (t, size) => {
        const lo = new Int32Array(size);
        const hi = new Int32Array(size);
        for (let o = 0; o < size; o++) {
            let a = Infinity;
            let b = -Infinity;
            for (let k = 0; k < t.k; k++) {
                if (t.w[o * t.k + k] > 0) {
                    a = Math.min(a, t.idx[o * t.k + k]);
                    b = Math.max(b, t.idx[o * t.k + k]);
                }
            }
            lo[o] = a === Infinity ? 0 : a;
            hi[o] = b === -Infinity ? -1 : b;
        }
        return { lo, hi };
    };
    const sy = span(ty, H0);
    const sx = span(tx, W0);
    const out = [];
    const tmp = new Float64Array(fh * W0);
    const stride = words32PerRow(W0);
    for (let m = 0; m < n; m++) {
        const src = soft.subarray(m * fh * fw, (m + 1) * fh * fw);
        const words = new Uint32Array(stride * H0);
        // The taps form convex combinations: an output can exceed the threshold only if one of its sources does, so
        // only the outputs whose sources meet the box of the source pixels above the threshold are computed.
        let bx0 = fw;
        let by0 = fh;
        let bx1 = -1;
        let by1 = -1;
        for (let y = 0; y < fh; y++) {
            for (let x = 0; x < fw; x++) {
                if (src[y * fw + x] > threshold) {
                    if (x < bx0)
                        bx0 = x;
                    if (x > bx1)
                        bx1 = x;
                    if (y < by0)
                        by0 = y;
                    by1 = y;
                }
            }
        }
        if (bx1 >= 0) {
            let X0 = 0;
            while (X0 < W0 && sx.hi[X0] < bx0)
                X0++;
            let X1 = W0;
            while (X1 > X0 && sx.lo[X1 - 1] > bx1)
                X1--;
            let Y0 = 0;
            while (Y0 < H0 && sy.hi[Y0] < by0)
                Y0++;
            let Y1 = H0;
            while (Y1 > Y0 && sy.lo[Y1 - 1] > by1)
                Y1--;
            if (X0 < X1 && Y0 < Y1) {
                const r0 = sy.lo[Y0];
                const r1 = sy.hi[Y1 - 1];
                for (let y = r0; y <= r1; y++) {
                    for (let x = X0; x < X1; x++) {
                        let v = 0;
                        for (let k = 0; k < tx.k; k++)
                            v += tx.w[x * tx.k + k] * src[y * fw + tx.idx[x * tx.k + k]];
                        tmp[y * W0 + x] = v;
                    }
                }
                for (let y = Y0; y < Y1; y++) {
                    for (let x = X0; x < X1; x++) {
                        let v = 0;
                        for (let k = 0; k < ty.k; k++) {
                            const wt = ty.w[y * ty.k + k];
                            if (wt > 0)
                                v += wt * tmp[ty.idx[y * ty.k + k] * W0 + x];
                        }
                        if (v > threshold)
                            words[y * stride + (x >>> 5)] |= 1 << (x & 31);
                    }
                }
            }
        }
        out.push(words);
    }
    return out;
}
