/**
 * Typed errors. Every error the library throws on purpose is a SotrError (or a
 * TypeError/RangeError subclass carrying the same `code`), so callers can
 * switch on `err.code`, which is stable across versions.
 */

export type SotrErrorCode =
  | 'SOTR_INVALID_ARGUMENT'
  | 'SOTR_SHAPE_MISMATCH'
  | 'SOTR_DTYPE_MISMATCH'
  | 'SOTR_DEVICE_MISMATCH'
  | 'SOTR_DISPOSED'
  | 'SOTR_DEVICE_UNAVAILABLE'
  | 'SOTR_DEVICE_OUT_OF_MEMORY'
  | 'SOTR_DEVICE_LOST'
  | 'SOTR_ABORTED'
  | 'SOTR_NATIVE_LOAD'
  | 'SOTR_CHECKPOINT_FORMAT'
  | 'SOTR_CHECKPOINT_UNSAFE'
  | 'SOTR_CHECKPOINT_KEYS'
  | 'SOTR_IMAGE_DECODE'
  | 'SOTR_IMAGE_SIZE'
  | 'SOTR_INVALID_STATE'
  | 'SOTR_INTERNAL';

export interface SotrErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/** Base class of every library error. */
export class SotrError extends Error {
  readonly code: SotrErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: SotrErrorCode, message: string, options: SotrErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (options.details) this.details = options.details;
  }
}

/** Wrong argument type or dtype: a TypeError (so generic code catches it) with a SOTR code. */
export class SotrTypeError extends TypeError {
  readonly code: SotrErrorCode;
  constructor(message: string, code: SotrErrorCode = 'SOTR_INVALID_ARGUMENT') {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value out of range or a wrong shape: a RangeError with a SOTR code. */
export class SotrRangeError extends RangeError {
  readonly code: SotrErrorCode;
  constructor(message: string, code: SotrErrorCode = 'SOTR_INVALID_ARGUMENT') {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ShapeError extends SotrRangeError {
  constructor(message: string) {
    super(message, 'SOTR_SHAPE_MISMATCH');
  }
}

export class DTypeError extends SotrTypeError {
  constructor(message: string) {
    super(message, 'SOTR_DTYPE_MISMATCH');
  }
}

export class DeviceMismatchError extends SotrTypeError {
  constructor(message: string) {
    super(message, 'SOTR_DEVICE_MISMATCH');
  }
}

export class DisposedError extends SotrError {
  constructor(what: string) {
    super('SOTR_DISPOSED', `${what} was used after dispose()`);
  }
}

export class DeviceUnavailableError extends SotrError {
  readonly reason: string;
  constructor(device: string, reason: string) {
    super('SOTR_DEVICE_UNAVAILABLE', `device '${device}' is not available: ${reason}`);
    this.reason = reason;
  }
}

/**
 * An op that exists but has no kernel for its tensors' device in this build (e.g. a host-only op given CUDA tensors).
 * A DeviceUnavailableError with the same code, so existing handlers keep working; `op` names the op.
 */
export class NoKernelError extends DeviceUnavailableError {
  readonly op: string;
  constructor(device: string, op: string, reason: string) {
    super(device, reason);
    this.op = op;
  }
}

export class DeviceOutOfMemoryError extends SotrError {
  readonly requestedBytes: number;
  readonly freeBytes: number;
  constructor(device: string, requestedBytes: number, freeBytes: number) {
    super(
      'SOTR_DEVICE_OUT_OF_MEMORY',
      `out of memory on ${device}: requested ${requestedBytes} bytes, ${freeBytes} bytes free`,
    );
    this.requestedBytes = requestedBytes;
    this.freeBytes = freeBytes;
  }
}

export class DeviceLostError extends SotrError {
  constructor(device: string, reason: string) {
    super('SOTR_DEVICE_LOST', `device ${device} is lost after a fatal error (${reason}); restart the process`);
  }
}

export class AbortError extends SotrError {
  constructor(what = 'operation') {
    super('SOTR_ABORTED', `${what} was aborted`);
    this.name = 'AbortError';
  }
}

/** A checkpoint that cannot be read: truncated, corrupt, unsupported or over the limits. */
export class CheckpointFormatError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_CHECKPOINT_FORMAT', message, options);
  }
}

/** A pickle that asks for something a state_dict never needs (possible code execution). */
export class UnsafeCheckpointError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_CHECKPOINT_UNSAFE', message, options);
  }
}

/** Missing or mis-shaped weights for the model being built. */
export class CheckpointKeyError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_CHECKPOINT_KEYS', message, options);
  }
}

export class ImageDecodeError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_IMAGE_DECODE', message, options);
  }
}

export class NativeLoadError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_NATIVE_LOAD', message, options);
  }
}

/** A call made in the wrong state, e.g. stopOpProfile() with no profile running. */
export class ProfileStateError extends SotrError {
  constructor(message: string) {
    super('SOTR_INVALID_STATE', message);
  }
}
