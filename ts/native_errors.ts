/**
 * The addon's errors as the library's typed classes (errors.ts), by their SOTR code. Its own module, importing only
 * the error classes, so that the device and tensor modules use it without an import cycle through the ops.
 */
import {
  AbortError,
  DeviceLostError,
  DeviceMismatchError,
  DeviceOutOfMemoryError,
  DeviceUnavailableError,
  NoKernelError,
  DisposedError,
  DTypeError,
  ShapeError,
  SotrError,
  SotrRangeError,
  SotrTypeError,
} from './errors';

/**
 * Maps an error thrown by the addon (with a SOTR code) to its typed class; `device`, where the call named one
 * ('cuda:3'), is the device a device error names (else 'cuda').
 */
export function mapNativeError(e: unknown, device?: string): unknown {
  if (!(e instanceof Error) || e instanceof SotrError || e instanceof SotrTypeError || e instanceof SotrRangeError) return e;
  const code = (e as { code?: string }).code;
  const msg = e.message;
  switch (code) {
    case 'SOTR_SHAPE_MISMATCH':
      return new ShapeError(msg);
    case 'SOTR_DTYPE_MISMATCH':
      return new DTypeError(msg);
    case 'SOTR_DEVICE_MISMATCH':
      return new DeviceMismatchError(msg);
    case 'SOTR_INVALID_ARGUMENT':
      return e instanceof RangeError ? new SotrRangeError(msg) : new SotrTypeError(msg);
    case 'SOTR_DISPOSED': {
      const err = new DisposedError('tensor');
      err.message = msg;
      return err;
    }
    case 'SOTR_DEVICE_UNAVAILABLE':
      return new DeviceUnavailableError(device ?? 'cuda', msg);
    case 'SOTR_NO_KERNEL':
      return new NoKernelError('cuda', msg.split(':')[0]!, msg);
    case 'SOTR_DEVICE_OUT_OF_MEMORY': {
      const x = e as { requestedBytes?: number; freeBytes?: number; device?: string };
      return new DeviceOutOfMemoryError(x.device || 'device', x.requestedBytes ?? 0, x.freeBytes ?? 0, msg);
    }
    case 'SOTR_DEVICE_LOST':
      return new DeviceLostError(device ?? 'cuda', msg);
    case 'SOTR_ABORTED':
      return new AbortError(msg.replace(/ was aborted$/, ''));
    case 'SOTR_INTERNAL':
      return new SotrError('SOTR_INTERNAL', msg);
    default:
      return e;
  }
}

/** Runs `f`, its addon error thrown as the typed class (`device`: see mapNativeError). */
export function typedNative<T>(f: () => T, device?: string): T {
  try {
    return f();
  } catch (e) {
    throw mapNativeError(e, device);
  }
}

/** Awaits `f()`, its addon error thrown as the typed class (`device`: see mapNativeError). */
export async function typedNativeAsync<T>(f: () => Promise<T>, device?: string): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw mapNativeError(e, device);
  }
}
