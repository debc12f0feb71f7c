import { once } from 'node:events';

/**
 * Writes lines to a stream, waiting for it to drain when its buffer is full,
 * so that writing a large dump holds at most one buffer in memory.
 */
export class LineWriter {
  readonly #stream: NodeJS.WritableStream;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
  }

  /** Writes `line` and a newline; resolves once the stream can take more. */
  async write(line: string): Promise<void> {
    if (!this.#stream.write(`${line}\n`)) await once(this.#stream, 'drain');
  }
}
