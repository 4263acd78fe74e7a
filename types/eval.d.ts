import { type EvalItem, type EvalKind, type GenerationItem, type ParsedItem } from './eval-tasks.js';
import type { Model } from './model.js';
export interface EvaluationOptions {
    /** Few-shot examples per prompt, drawn from the task's train split (seeded). Default 0. */
    shots?: number;
    /** Evaluate only the first `limit` test items (in file order). Default: all. */
    limit?: number;
    /** Seed of the few-shot choice. Default 1. */
    seed?: number;
    /** How classification items without a `mode` are run. Default 'score'. */
    classificationMode?: 'score' | 'generate';
    /** Most tokens for generation and sql items without their own maxTokens. Default 64. */
    maxTokens?: number;
    /** KV cache size of each lane. Default: the model's contextSize. */
    contextSize?: number;
    /**
     * Items in flight at once (each lane has its own KV cache). Generation steps of the lanes are
     * batched natively. Results do not depend on it. Default 4.
     */
    concurrency?: number;
    /** Time limit of one sql item's queries in milliseconds (the query then counts as wrong). Default 10000. */
    sqlTimeout?: number;
    /** A report of an earlier run (same model, tasks and options): its items are not run again. */
    resume?: EvaluationReport;
    /** Names the tasks in errors and in the report (e.g. the file name). Default 'tasks'. */
    source?: string;
    /** Stops the run: the report promise rejects with ABORTED; partialReport() keeps what finished. */
    signal?: AbortSignal;
}
/** The result of one multiple-choice item. */
export interface MultipleChoiceResult {
    /** log p(choice | prompt) summed over the choice's tokens, per choice. */
    logprobs: number[];
    /** Tokens of each choice. */
    tokens: number[];
    /** argmax of logprobs (acc). */
    pred: number;
    /** argmax of logprobs / UTF-8 bytes of the choice (acc_norm). */
    predNorm: number;
    /**
     * argmax of the mean log-probability of the tokens after the prefix all choices share
     * (llama.cpp's llama-perplexity --multiple-choice).
     */
    predMean: number;
}
export interface EvalItemResult {
    id: string;
    line: number;
    task: string;
    kind: EvalKind;
    /** The item was answered right (acc for multiple-choice). */
    correct: boolean;
    /** multiple-choice: the right index; classification: the right label. */
    answer?: number | string;
    /** multiple-choice: see MultipleChoiceResult. */
    mc?: MultipleChoiceResult;
    /** classification: the predicted label (null: a generation that is none of the labels). */
    pred?: string | null;
    /** classification in score mode: log p of each label. */
    labelLogprobs?: number[];
    /** classification mode. */
    mode?: 'score' | 'generate';
    /** generation, sql and classification in generate mode: the generated text. */
    output?: string;
    /** sql: why the generated query failed to run. */
    error?: string;
}
/** Per-task figures. */
export interface TaskMetrics {
    kind: EvalKind;
    n: number;
    /** Fraction right (multiple-choice: highest total log-probability; sql: execution accuracy). */
    acc: number;
    /** multiple-choice: highest log-probability per byte of the choice. */
    acc_norm?: number;
    /** multiple-choice: highest mean token log-probability after the choices' common prefix (llama.cpp). */
    acc_mean?: number;
    /** classification: the labels in order of first appearance. */
    labels?: string[];
    /** classification: confusion[i][j] counts items whose answer is labels[i] and prediction labels[j]; a last column counts predictions that are none of the labels. */
    confusion?: number[][];
    /** classification: per label, precision (null when never predicted) and recall (null when never the answer). */
    perClass?: Record<string, {
        precision: number | null;
        recall: number | null;
        support: number;
    }>;
    /** sql: generated queries that failed to run. */
    errors?: number;
}
export interface EvaluationReport {
    format: 'halfbyte-eval-report';
    formatVersion: 1;
    /** halfbyte's version. */
    halfbyte: string;
    model: {
        file: string;
        size: number;
        fingerprint: string;
        architecture: string;
        name: string;
    };
    tasks: {
        source: string;
        sha256: string;
        items: number;
    };
    /** What decides the results (concurrency and threads do not): a resumed run must use the same. */
    options: {
        shots: number;
        limit: number | null;
        seed: number;
        classificationMode: 'score' | 'generate';
        maxTokens: number;
        contextSize: number;
        /** Milliseconds an sql item's queries may run before the item counts as wrong. */
        sqlTimeout: number;
    };
    /** False in a partial report (an interrupted run): resume it with `resume`. */
    complete: boolean;
    /** One per evaluated item, in file order. */
    results: EvalItemResult[];
    metrics: Record<string, TaskMetrics>;
    /**
     * The only part that changes between runs of the same inputs (wall-clock figures of this
     * run); everything else is the same bit for bit. Leave it out when comparing reports.
     */
    timing: {
        seconds: number;
        itemsPerSecond: number;
        /** Items run now / taken from `resume`. */
        evaluated: number;
        resumed: number;
        /** Tokens the model evaluated in this run, and tokens of few-shot blocks found in a lane's cache instead. */
        evaluatedTokens: number;
        reusedTokens: number;
    };
}
export type EvaluationEvent = {
    type: 'start';
    total: number;
    resumed: number;
} | {
    type: 'item';
    done: number;
    total: number;
    result: EvalItemResult;
} | {
    type: 'end';
    report: EvaluationReport;
};
/**
 * A fingerprint of a model file without reading all of it: SHA-256 of its size, its first MiB
 * (the GGUF header and metadata) and 64 samples of 4 KiB spread evenly over the rest.
 */
export declare function fileFingerprint(path: string): Promise<string>;
/** SQuAD-style normalisation: lower case, no punctuation, no articles, single spaces. */
export declare function normalizeAnswer(s: string): string;
/** Whether a generation's output matches one of the item's answers. */
export declare function matchAnswer(item: Pick<GenerationItem, 'answers' | 'match' | 'jsonSchema'>, output: string): boolean;
/** The grammar of classification in generate mode: one space, then exactly one of the labels. */
export declare function labelGrammar(labels: string[]): string;
/** Per-task metrics of a set of results (in file order). */
export declare function computeMetrics(results: EvalItemResult[], items: ParsedItem[]): Record<string, TaskMetrics>;
/**
 * What runEvaluation returns: await it for the report, or iterate it for progress events first
 * (`for await (const e of run) …; const report = await run`).
 */
export declare class EvaluationRun implements PromiseLike<EvaluationReport>, AsyncIterable<EvaluationEvent> {
    private readonly events;
    private wake;
    private done;
    private readonly promise;
    private partial;
    /** @internal Use runEvaluation(). */
    constructor(start: (emit: (e: EvaluationEvent) => void, setPartial: (f: () => EvaluationReport) => void) => Promise<EvaluationReport>);
    /**
     * The report of what has finished so far (complete: false until the end), e.g. to save after
     * an abort and pass as `resume` later. Undefined before the run has started.
     */
    partialReport(): EvaluationReport | undefined;
    then<T1 = EvaluationReport, T2 = never>(onfulfilled?: ((value: EvaluationReport) => T1 | PromiseLike<T1>) | null, onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null): Promise<T1 | T2>;
    [Symbol.asyncIterator](): AsyncIterator<EvaluationEvent>;
}
/**
 * Runs an evaluation: `tasks` is the text of a JSONL task file (see README: Evaluations) or an
 * array of items. Returns an EvaluationRun: iterate it for progress events, await it for the
 * report. Items already in `resume` are not run again; the report is the same as a run without
 * interruption.
 */
export declare function runEvaluation(model: Model, tasks: string | readonly EvalItem[], options?: EvaluationOptions): EvaluationRun;
/** A report without its `timing`, as canonical JSON: equal for runs of the same inputs. */
export declare function reportKey(report: EvaluationReport): string;
