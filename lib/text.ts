// Text helpers for streaming output: UTF-8 decoding across token boundaries and stop strings.

/**
 * Decodes token bytes into text as they arrive. A multi-byte character split across tokens is
 * held back until its last byte comes; bytes that can never form valid UTF-8 become U+FFFD.
 */
export class Utf8Stream {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  push(bytes: Uint8Array): string {
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Whatever is still held back (an incomplete character) as U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }
}

export interface TextChunk {
  token: number;
  text: string;
}

/**
 * Holds generated chunks back while their text could still be the start of a stop string, so
 * each token is emitted once, with its text, and nothing from a stop string onward is emitted.
 */
export class StopMatcher<T extends TextChunk = TextChunk> {
  private pending: T[] = [];
  private pendingText = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Adds a chunk; returns the chunks now safe to emit and whether a stop string completed. */
  push(chunk: T): { emit: T[]; stopped: boolean } {
    if (this.stops.length === 0) return { emit: [chunk], stopped: false };
    this.pending.push(chunk);
    this.pendingText += chunk.text;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pendingText.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      // Emit the text before the stop string; the chunk it starts in keeps only its head.
      const emit: T[] = [];
      let at = 0;
      for (const c of this.pending) {
        if (at >= cut) break;
        emit.push({ ...c, text: c.text.slice(0, cut - at) });
        at += c.text.length;
      }
      this.pending = [];
      this.pendingText = '';
      return { emit, stopped: true };
    }
    // The longest tail that is a proper prefix of a stop string must wait.
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pendingText.length); k > keep; k--) {
        if (this.pendingText.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    const safe = this.pendingText.length - keep;
    const emit: T[] = [];
    let at = 0;
    while (this.pending.length > 0 && at + this.pending[0].text.length <= safe) {
      const c = this.pending.shift()!;
      at += c.text.length;
      emit.push(c);
    }
    this.pendingText = this.pendingText.slice(at);
    return { emit, stopped: false };
  }

  /** Chunks still held when generation ends without a stop. */
  flush(): T[] {
    const out = this.pending;
    this.pending = [];
    this.pendingText = '';
    return out;
  }
}
