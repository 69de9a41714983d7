// interpolate (bilinear, align_corners False / nearest) vs F.interpolate on SOTR's shapes, side by side.
//   node benchmarks/interpolate_bench.mjs [--threads 2] [--reps 7] [--budget 120] [--json FILE] [--no-torch] [--quick] [--device cpu|cuda]
import { runDense } from './dense_ops_common.mjs';

const numel = (s) => s.reduce((a, v) => a * v, 1);
const bil = (name, shape, opts, params, outShape) => ({
  name,
  shape,
  ours: ({ interpolate }, x) => interpolate(x, opts),
  bench: 'interpolate',
  params,
  bytes: 4 * (numel(shape) + numel(outShape)),
});

await runDense('interpolate', [
  bil('bilinear x2 128ch 100x168 (mask branch)', [1, 128, 100, 168], { scaleFactor: 2, mode: 'bilinear' }, { scale: 2, mode: 'bilinear' }, [1, 128, 200, 336]),
  bil('bilinear x0.5 256ch 200x336 (P2 -> grid input)', [1, 256, 200, 336], { scaleFactor: 0.5, mode: 'bilinear' }, { scale: 0.5, mode: 'bilinear' }, [1, 256, 100, 168]),
  bil('bilinear 256ch 100x168 -> 40x40 (grid)', [1, 256, 100, 168], { size: [40, 40], mode: 'bilinear' }, { size: [40, 40], mode: 'bilinear' }, [1, 256, 40, 40]),
  bil('bilinear 256ch 50x84 -> 24x24 (grid)', [1, 256, 50, 84], { size: [24, 24], mode: 'bilinear' }, { size: [24, 24], mode: 'bilinear' }, [1, 256, 24, 24]),
  bil('bilinear x2 128ch 25x42 (mask branch)', [1, 128, 25, 42], { scaleFactor: 2, mode: 'bilinear' }, { scale: 2, mode: 'bilinear' }, [1, 128, 50, 84]),
  bil('nearest x2 256ch 50x84 (FPN top-down)', [1, 256, 50, 84], { size: [100, 168], mode: 'nearest' }, { size: [100, 168], mode: 'nearest' }, [1, 256, 100, 168]),
  bil('nearest x2 256ch 100x168 (FPN top-down)', [1, 256, 100, 168], { size: [200, 336], mode: 'nearest' }, { size: [200, 336], mode: 'nearest' }, [1, 256, 200, 336]),
]);
