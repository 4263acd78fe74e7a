export type JsonSchema = boolean | {
    [keyword: string]: unknown;
};
/**
 * A GBNF grammar whose sentences are JSON texts valid against `schema` (whitespace as llama.cpp's
 * grammars allow it). Throws UNSUPPORTED_SCHEMA listing the keywords it cannot enforce, and
 * INVALID_ARGUMENT for a malformed schema.
 */
export declare function jsonSchemaToGrammar(schema: JsonSchema): string;
