import type { JsonSchema } from './json-schema.js';
/** The kinds of evaluation items. */
export type EvalKind = 'multiple-choice' | 'classification' | 'generation' | 'sql';
/** Fields every item may have. */
export interface EvalItemBase {
    kind: EvalKind;
    /** Unique within the file; the key `--resume` matches on. Default: the line number, as a string. */
    id?: string | number;
    /** The task the item belongs to: metrics and few-shot examples are per task. Default: the kind. */
    task?: string;
    /** 'train' items are only few-shot examples; 'test' items (the default) are evaluated. */
    split?: 'train' | 'test';
    /**
     * The item's prompt, with `{field}` replaced by the item's field (`{{` and `}}` are braces).
     * Default per kind: `{context}`, `{text}`, `{prompt}`, and for sql
     * `{schema}\n-- Question: {question}\n-- SQL:`. Few-shot examples are formatted with it too.
     */
    template?: string;
}
/** Scored by the log-probability of each choice after the context. */
export interface MultipleChoiceItem extends EvalItemBase {
    kind: 'multiple-choice';
    context: string;
    /** At least 2. Each is scored as `context + " " + choice`. */
    choices: string[];
    /** Index of the right choice. */
    answer: number;
}
/** A text to label: by scoring each label, or by generating under a grammar that allows only the labels. */
export interface ClassificationItem extends EvalItemBase {
    kind: 'classification';
    text: string;
    /** At least 2 distinct labels. */
    labels: string[];
    /** The right label (one of labels). */
    answer: string;
    /** 'score' (default: the run's classificationMode) or 'generate'. */
    mode?: 'score' | 'generate';
}
/** Free generation, scored against reference answers. */
export interface GenerationItem extends EvalItemBase {
    kind: 'generation';
    prompt: string;
    /** Accepted answers (with match 'regex', JavaScript regular expressions tested against the output). */
    answers: string[];
    /** Generation ends before any of these. Default "\n". */
    stop?: string | string[];
    /** 'exact' (after trimming whitespace), 'normalized' (default) or 'regex'. */
    match?: 'exact' | 'normalized' | 'regex';
    /** Constrain the output to JSON valid against this schema. */
    jsonSchema?: JsonSchema;
    /** Constrain the output to this GBNF grammar. */
    grammar?: string;
    /** Default: the run's maxTokens. */
    maxTokens?: number;
}
/** Text-to-SQL, scored by execution accuracy on an in-memory SQLite database. */
export interface SqlItem extends EvalItemBase {
    kind: 'sql';
    /** SQL that builds the database: CREATE TABLE statements and the rows (INSERT). */
    schema: string;
    question: string;
    /** The reference query. */
    answer: string;
    /** Generation ends before any of these. Default [";", "\n\n"]. */
    stop?: string | string[];
    /** Constrain the query to this GBNF grammar (e.g. a SQL grammar). */
    grammar?: string;
    maxTokens?: number;
}
export type EvalItem = MultipleChoiceItem | ClassificationItem | GenerationItem | SqlItem;
/** A validated item with where it came from. */
export interface ParsedItem {
    /** 1-based line in the task file. */
    line: number;
    id: string;
    task: string;
    split: 'train' | 'test';
    item: EvalItem;
}
/**
 * JSON Schema (draft 2020-12) of one line of a task file. runEvaluation checks lines against
 * the same rules (plus what a schema cannot say: an answer index within the choices, a label
 * among the labels, a template naming existing fields, a regex that compiles).
 */
export declare const evalItemSchema: {
    readonly $schema: "https://json-schema.org/draft/2020-12/schema";
    readonly title: "halfbyte evaluation item";
    readonly oneOf: readonly [{
        readonly type: "object";
        readonly required: readonly ["kind", "context", "choices", "answer"];
        readonly additionalProperties: false;
        readonly properties: {
            readonly kind: {
                readonly const: "multiple-choice";
            };
            readonly context: {
                type: string;
            };
            readonly choices: {
                type: string;
                items: {
                    type: string;
                };
                minItems: number;
            };
            readonly answer: {
                readonly type: "integer";
                readonly minimum: 0;
            };
            readonly id: {
                type: string[];
            };
            readonly task: {
                type: string;
                minLength: number;
            };
            readonly split: {
                enum: string[];
            };
            readonly template: {
                type: string;
            };
        };
    }, {
        readonly type: "object";
        readonly required: readonly ["kind", "text", "labels", "answer"];
        readonly additionalProperties: false;
        readonly properties: {
            readonly kind: {
                readonly const: "classification";
            };
            readonly text: {
                type: string;
            };
            readonly labels: {
                type: string;
                items: {
                    type: string;
                };
                minItems: number;
            };
            readonly answer: {
                type: string;
            };
            readonly mode: {
                readonly enum: readonly ["score", "generate"];
            };
            readonly id: {
                type: string[];
            };
            readonly task: {
                type: string;
                minLength: number;
            };
            readonly split: {
                enum: string[];
            };
            readonly template: {
                type: string;
            };
        };
    }, {
        readonly type: "object";
        readonly required: readonly ["kind", "prompt", "answers"];
        readonly additionalProperties: false;
        readonly properties: {
            readonly kind: {
                readonly const: "generation";
            };
            readonly prompt: {
                type: string;
            };
            readonly answers: {
                type: string;
                items: {
                    type: string;
                };
                minItems: number;
            };
            readonly stop: {
                oneOf: ({
                    type: string;
                    minLength: number;
                    items?: undefined;
                } | {
                    type: string;
                    items: {
                        type: string;
                        minLength: number;
                    };
                    minLength?: undefined;
                })[];
            };
            readonly match: {
                readonly enum: readonly ["exact", "normalized", "regex"];
            };
            readonly jsonSchema: {
                readonly type: readonly ["object", "boolean"];
            };
            readonly grammar: {
                type: string;
            };
            readonly maxTokens: {
                type: string;
                minimum: number;
                maximum: number;
            };
            readonly id: {
                type: string[];
            };
            readonly task: {
                type: string;
                minLength: number;
            };
            readonly split: {
                enum: string[];
            };
            readonly template: {
                type: string;
            };
        };
    }, {
        readonly type: "object";
        readonly required: readonly ["kind", "schema", "question", "answer"];
        readonly additionalProperties: false;
        readonly properties: {
            readonly kind: {
                readonly const: "sql";
            };
            readonly schema: {
                type: string;
            };
            readonly question: {
                type: string;
            };
            readonly answer: {
                type: string;
            };
            readonly stop: {
                oneOf: ({
                    type: string;
                    minLength: number;
                    items?: undefined;
                } | {
                    type: string;
                    items: {
                        type: string;
                        minLength: number;
                    };
                    minLength?: undefined;
                })[];
            };
            readonly grammar: {
                type: string;
            };
            readonly maxTokens: {
                type: string;
                minimum: number;
                maximum: number;
            };
            readonly id: {
                type: string[];
            };
            readonly task: {
                type: string;
                minLength: number;
            };
            readonly split: {
                enum: string[];
            };
            readonly template: {
                type: string;
            };
        };
    }];
};
/** Default templates (the item's own fields). */
export declare const defaultTemplates: Readonly<Record<EvalKind, string>>;
/** Fills a template with the item's fields (strings as they are, other values as JSON). */
export declare function fillTemplate(t: string, item: EvalItem): string;
/** Checks one parsed line; returns the item or throws INVALID_TASK naming line and field. */
export declare function checkItem(value: unknown, line: number, where: string): ParsedItem;
/**
 * Parses a task file's text: one JSON object a line; blank lines and lines starting with `//`
 * are skipped. Throws INVALID_TASK naming the first bad line and field, or a repeated id.
 */
export declare function parseTasks(text: string, where?: string): ParsedItem[];
/** mulberry32: a small seeded PRNG (32-bit state), for the choice of few-shot examples. */
export declare function mulberry32(seed: number): () => number;
/**
 * The few-shot examples of a task: `shots` of its train items, in an order fixed by the seed
 * (a seeded Fisher-Yates shuffle of the train items in file order). The same for every item of
 * the task, so the few-shot block is one shared prefix.
 */
export declare function chooseShots(train: ParsedItem[], shots: number, seed: number, task: string): ParsedItem[];
/** The text a solved example adds after its prompt (joined with one space). */
export declare function exampleAnswer(item: EvalItem): string;
/** The prompt of an item (without the few-shot block). */
export declare function itemPrompt(item: EvalItem): string;
/** The few-shot block: each example as prompt + " " + answer, each followed by a blank line. */
export declare function shotBlock(shots: ParsedItem[], template: string | undefined): string;
