/**
 * Decodes token bytes into text as they arrive. A multi-byte character split across tokens is
 * held back until its last byte comes; bytes that can never form valid UTF-8 become U+FFFD.
 */
export declare class Utf8Stream {
    private readonly decoder;
    push(bytes: Uint8Array): string;
    /** Whatever is still held back (an incomplete character) as U+FFFD. */
    flush(): string;
}
export interface TextChunk {
    token: number;
    text: string;
}
/**
 * Holds generated chunks back while their text could still be the start of a stop string, so
 * each token is emitted once, with its text, and nothing from a stop string onward is emitted.
 */
export declare class StopMatcher<T extends TextChunk = TextChunk> {
    private readonly stops;
    private pending;
    private pendingText;
    constructor(stops: readonly string[]);
    /** Adds a chunk; returns the chunks now safe to emit and whether a stop string completed. */
    push(chunk: T): {
        emit: T[];
        stopped: boolean;
    };
    /** Chunks still held when generation ends without a stop. */
    flush(): T[];
}
