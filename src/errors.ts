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
  constructor(readonly index: number, readonly length: number, readonly maxLength: number) {
    super(`input ${index} has ${length} tokens, more than the model's maximum of ${maxLength} (pass truncate: true to cut it)`);
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
