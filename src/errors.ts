// Error types users can catch by class; every message names the thing that is wrong and, where
// there is one, the file.

/** A model folder is missing a file, has a malformed file, or describes an unsupported model. */
export class ModelFolderError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'ModelFolderError';
  }
}

/** A caller passed something the API cannot accept (wrong type, bad option). */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** An option is valid in general but cannot be honoured by the chosen backend. */
export class UnsupportedOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedOptionError';
  }
}

/** The CUDA backend reported a failure (message carries the CUDA/cuBLAS text). */
export class CudaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CudaError';
  }
}

/** An input was longer than the model allows and truncation was disabled. */
export class SequenceTooLongError extends InputError {
  /** `length` is undefined when the tokenizer stopped at the maximum (only "longer" is known). */
  constructor(readonly index: number, readonly length: number | undefined, readonly maxLength: number) {
    super(
      `input ${index} ${length === undefined ? 'is longer than' : `has ${length} tokens, more than`} the model's maximum of ${maxLength} tokens ` +
        '(truncate: true in the API, --truncate on the command line, cuts it)',
    );
    this.name = 'SequenceTooLongError';
  }
}

/** A command-line option has a value the command cannot take (the CLI prints it with usage and exits 2). */
export class UsageError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Why an HTTP API request was refused, in text-embeddings-inference's ErrorType vocabulary
 * (router/src/lib.rs), plus 'timeout' for a request that ran past --request-timeout.
 */
export type ApiErrorType = 'validation' | 'empty' | 'overloaded' | 'tokenizer' | 'backend' | 'unhealthy' | 'timeout';

/**
 * An HTTP API request the server refuses or could not serve. `status` follows TEI: 400 bad JSON,
 * wrong types or empty input; 413 too many inputs or too large a body; 422 input too long or
 * otherwise invalid; 424 the model cannot do this (an embedding route on a cross-encoder);
 * 429 the queue is full; 503 draining or timed out.
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly type: ApiErrorType, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * A remote endpoint (embedrank serve, TEI, vLLM, any OpenAI-compatible server) failed a request.
 * `status` is the HTTP status (0 for a network error); `retryable` is true for 408, 429, 5xx
 * and network errors, which the remote client retries with backoff.
 */
export class EndpointError extends Error {
  constructor(readonly url: string, readonly status: number, message: string, readonly retryable: boolean) {
    super(`${url}: ${status ? `HTTP ${status}: ` : ''}${message}`);
    this.name = 'EndpointError';
  }
}
