import type { NativeGrammar } from './addon.js';
/** A parsed GBNF grammar (llama.cpp's format). Create it with `model.createGrammar(gbnf)`. */
export declare class Grammar {
    /** @internal */
    readonly handle: NativeGrammar;
    /** The GBNF text. */
    readonly source: string;
    /** @internal Parses; throws a HalfbyteError GRAMMAR_SYNTAX naming the line and column. */
    constructor(gbnf: string);
    /** How many rules the text defines. */
    get ruleCount(): number;
}
/** A grammar option (GBNF text or a parsed Grammar) as a Grammar, or undefined. */
export declare function toGrammar(value: unknown, what?: string): Grammar | undefined;
