import { Command } from 'commander';
import { type EvaluationReport } from './eval.js';
import type { Model } from './model.js';
/** The metrics of a report as text tables. */
export declare function formatReport(report: EvaluationReport): string;
/** Adds the eval command; `openModel` loads a model as the other commands do. */
export declare function addEvalCommand(program: Command, openModel: (ref: string, threads: number | undefined) => Promise<Model>, defaultModel: string): void;
