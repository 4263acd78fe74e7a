export interface TokenizeStreamOptions {
    /** Add BOS/EOS as the vocabulary asks (BOS with the first ids, EOS with the last). Default true. */
    addSpecial?: boolean;
    /** Turn special-token text into control tokens. Default false. */
    parseSpecial?: boolean;
}
export interface StreamTokenizer {
    tokenize(text: string, options?: {
        addSpecial?: boolean;
        parseSpecial?: boolean;
    }): Int32Array;
    readonly info: {
        tokenizer: {
            bos: number;
            eos: number;
            addBos: boolean;
            addEos: boolean;
        };
    };
}
export declare function tokenizeStream(model: StreamTokenizer, source: AsyncIterable<string> | ReadableStream<string>, options?: TokenizeStreamOptions): AsyncGenerator<Int32Array>;
