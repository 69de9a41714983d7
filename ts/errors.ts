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
  | 'SOTR_CONFIG'
  | 'SOTR_IMAGE_DECODE'
  | 'SOTR_IMAGE_SIZE'
  | 'SOTR_INVALID_STATE'
  | 'SOTR_INTERNAL';

/** Options of the SotrError constructors. */
export interface SotrErrorOptions {
  /** The underlying error (`error.cause`). */
  cause?: unknown;
  /** Structured facts about the failure (`error.details`). */
  details?: Record<string, unknown> | undefined;
}

/** Base class of the library's errors, except the argument errors SotrTypeError and SotrRangeError (and their
 * subclasses), which extend TypeError and RangeError; every one has a `code` beginning 'SOTR_'. */
export class SotrError extends Error {
  /** The stable error code to switch on (see SotrErrorCode). */
  readonly code: SotrErrorCode;
  /** Structured facts about the failure, where the thrower gives them (e.g. CheckpointKeyError's key lists). */
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
  /** The stable error code: 'SOTR_INVALID_ARGUMENT' unless a subclass sets another. */
  readonly code: SotrErrorCode;
  /** Structured facts about the failure, where the thrower gives them (e.g. evaluateCoco: which input, which entry). */
  readonly details?: Record<string, unknown>;
  constructor(message: string, code: SotrErrorCode = 'SOTR_INVALID_ARGUMENT', options: SotrErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (options.details) this.details = options.details;
  }
}

/** A value out of range or a wrong shape: a RangeError with a SOTR code. */
export class SotrRangeError extends RangeError {
  /** The stable error code: 'SOTR_INVALID_ARGUMENT' unless a subclass or the thrower sets another. */
  readonly code: SotrErrorCode;
  /** Structured facts about the failure, where the thrower gives them (e.g. evaluateCoco: which input, which entry). */
  readonly details?: Record<string, unknown>;
  constructor(message: string, code: SotrErrorCode = 'SOTR_INVALID_ARGUMENT', options: SotrErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (options.details) this.details = options.details;
  }
}

/** Any error this library throws on purpose (a SotrError, SotrTypeError or SotrRangeError): `e.code` is then typed. */
export type AnySotrError = SotrError | SotrTypeError | SotrRangeError;

/**
 * Whether `e` is one of this library's errors, whichever of its three bases it has: in a `catch (e)`, where `e` is
 * `unknown`, `if (isSotrError(e)) switch (e.code) { ... }`.
 */
export function isSotrError(e: unknown): e is AnySotrError {
  return e instanceof SotrError || e instanceof SotrTypeError || e instanceof SotrRangeError;
}

/** A tensor or array of the wrong shape or size (code 'SOTR_SHAPE_MISMATCH'). */
export class ShapeError extends SotrRangeError {
  constructor(message: string) {
    super(message, 'SOTR_SHAPE_MISMATCH');
  }
}

/** A tensor or array of the wrong dtype (code 'SOTR_DTYPE_MISMATCH'). */
export class DTypeError extends SotrTypeError {
  constructor(message: string) {
    super(message, 'SOTR_DTYPE_MISMATCH');
  }
}

/** An op's tensors on different devices, or one on a device it must not be on (code 'SOTR_DEVICE_MISMATCH'). */
export class DeviceMismatchError extends SotrTypeError {
  constructor(message: string) {
    super(message, 'SOTR_DEVICE_MISMATCH');
  }
}

/** A tensor or model used after dispose() (code 'SOTR_DISPOSED'). */
export class DisposedError extends SotrError {
  constructor(what: string) {
    super('SOTR_DISPOSED', `${what} was used after dispose()`);
  }
}

/**
 * A device that cannot be used: an explicit 'cuda' or 'cuda:N' without a usable GPU, or an index past the devices
 * present (code 'SOTR_DEVICE_UNAVAILABLE').
 */
export class DeviceUnavailableError extends SotrError {
  /** Why the device is unavailable (e.g. 'CUDA is not available'). */
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
  /** The op that has no kernel for the device. */
  readonly op: string;
  constructor(device: string, op: string, reason: string) {
    super(device, reason);
    this.op = op;
  }
}

/**
 * A device allocation that failed even after the allocator released its cache and retried once, or host memory
 * a kernel needed (its workspace; `device` 'cpu', whatever the model's device) that the system refused
 * (code 'SOTR_DEVICE_OUT_OF_MEMORY').
 */
export class DeviceOutOfMemoryError extends SotrError {
  /** Bytes the failed allocation asked for (0 when not known). */
  readonly requestedBytes: number;
  /** Bytes the device reported free at that moment. */
  readonly freeBytes: number;
  /** `detail`: what ran out when the size is not known (e.g. "out of host memory (conv2d)"). */
  constructor(device: string, requestedBytes: number, freeBytes: number, detail?: string) {
    // The host's free memory is not asked (the system refused the allocation): no "0 bytes free" for it.
    const free = device === 'cpu' && freeBytes === 0 ? '' : `, ${freeBytes} bytes free`;
    super(
      'SOTR_DEVICE_OUT_OF_MEMORY',
      requestedBytes > 0 || !detail
        ? `out of memory on ${device}: requested ${requestedBytes} bytes${free}`
        : `out of memory on ${device}: ${detail}`,
    );
    this.requestedBytes = requestedBytes;
    this.freeBytes = freeBytes;
  }
}

/**
 * A CUDA device unusable after a sticky (fatal) error: every later call on it fails with this; restart the process
 * (code 'SOTR_DEVICE_LOST').
 */
export class DeviceLostError extends SotrError {
  constructor(device: string, reason: string) {
    super('SOTR_DEVICE_LOST', `device ${device} is lost after a fatal error (${reason}); restart the process`);
  }
}

/** Work cancelled through an AbortSignal before it started or finished (code 'SOTR_ABORTED'; `name` 'AbortError'). */
export class AbortError extends SotrError {
  /** `reason`: the signal's (`signal.reason`: what abort() was given, a TimeoutError for AbortSignal.timeout()), kept as
   * `cause` so that a caller can tell a timeout from a cancellation. */
  /** What was aborted: the call ('predict', 'Sotr.load') or, from the addon, the op ('conv2d'). */
  readonly operation: string;
  constructor(what = 'operation', reason?: unknown) {
    super('SOTR_ABORTED', `${what} was aborted`, reason !== undefined ? { cause: reason } : {});
    this.name = 'AbortError';
    this.operation = what;
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

/**
 * A model config file (readDetectron2Config) that cannot be read or parsed, holds a value of the wrong type or a
 * setting this library does not run, or belongs to another checkpoint; `details.file` (and `details.key`) say where.
 */
export class ConfigFileError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_CONFIG', message, options);
  }
}

/**
 * An image that cannot be decoded: unreadable, an unsupported format or channel count, or over `limitInputPixels`
 * (code 'SOTR_IMAGE_DECODE').
 */
export class ImageDecodeError extends SotrError {
  constructor(message: string, options: SotrErrorOptions = {}) {
    super('SOTR_IMAGE_DECODE', message, options);
  }
}

/**
 * The native addon could not be loaded (no build or prebuild for this platform, or a stale one); the message lists
 * every file tried and how to fix it (code 'SOTR_NATIVE_LOAD').
 */
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
