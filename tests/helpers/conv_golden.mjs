// Runs one case of a conv2d golden fixture (tests/reference/make_conv_fixtures.py and
// make_conv_winograd_fixtures.py write the same case layout) on a device, with extra conv2d options.
import { Tensor, conv2d } from '../../dist/index.js';

export function convGoldenRunner(fx) {
  const T = (k, device) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
  return async function runCase(c, device, extra = {}) {
    const [name, stride, padding, dilation, groups, hasBias, bn, res, activation, alpha, beta] = c;
    return conv2d(T(`${name}.x`, device), T(`${name}.weight`, device), {
      stride,
      padding,
      dilation,
      groups,
      bias: hasBias ? T(`${name}.bias`, device) : undefined,
      scale: bn ? T(`${name}.scale`, device) : undefined,
      shift: bn ? T(`${name}.shift`, device) : undefined,
      residual: res ? T(`${name}.residual`, device) : undefined,
      activation,
      alpha,
      beta,
      ...extra,
    });
  };
}
