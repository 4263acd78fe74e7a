// `halfbyte eval TASKS.jsonl`: runs an evaluation with a progress bar, writes the report (also
// while running, so an interrupted run can be resumed) and prints a table of the metrics.
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { HalfbyteError } from './errors.js';
import { runEvaluation, type EvaluationReport } from './eval.js';
import type { Model } from './model.js';
import { packageRequire } from './root.js';

function int(what: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`Expected an integer for ${what} but received ${value}`);
    return n;
  };
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '-' : (100 * x).toFixed(2));

/** The metrics of a report as text tables. */
export function formatReport(report: EvaluationReport): string {
  const rows = [['task', 'kind', 'n', 'acc %', 'acc_norm %', 'acc_mean %', 'errors']];
  for (const [task, m] of Object.entries(report.metrics))
    rows.push([task, m.kind, String(m.n), pct(m.acc), pct(m.acc_norm), pct(m.acc_mean), m.errors === undefined ? '-' : String(m.errors)]);
  let out = pad(rows) + '\n';
  for (const [task, m] of Object.entries(report.metrics)) {
    if (m.kind !== 'classification' || !m.labels || !m.confusion || !m.perClass) continue;
    out += `\n${task}: confusion (rows: answer, columns: predicted)\n`;
    out += pad([['', ...m.labels, '(none)'], ...m.labels.map((l, i) => [l, ...m.confusion![i]!.map(String)])]) + '\n';
    out += pad([['label', 'precision %', 'recall %', 'support'], ...m.labels.map((l) => [l, pct(m.perClass![l]!.precision), pct(m.perClass![l]!.recall), String(m.perClass![l]!.support)])]) + '\n';
  }
  return out;
}

function writeReport(path: string, report: EvaluationReport): void {
  const tmp = `${path}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(report, null, 1) + '\n');
    renameSync(tmp, path);
  } catch (err) {
    throw new HalfbyteError('FILE_WRITE_ERROR', `Cannot write the report ${path}: ${(err as Error).message}`);
  }
}

/** Adds the eval command; `openModel` loads a model as the other commands do. */
export function addEvalCommand(program: Command, openModel: (ref: string, threads: number | undefined) => Promise<Model>, defaultModel: string): void {
  program
    .command('eval')
    .description('Evaluate a model on a JSONL task file (multiple-choice, classification, generation, sql) and report the metrics')
    .argument('<tasks>', 'JSONL task file (see README: Evaluations)')
    .option('-m, --model <file>', 'GGUF model file (default: the bundled stories260K)')
    .option('--shots <n>', 'few-shot examples from the train split', int('--shots'), 0)
    .option('--limit <n>', 'evaluate only the first n test items', int('--limit'))
    .option('--seed <n>', 'seed of the few-shot choice', int('--seed'), 1)
    .option('-o, --out <file>', 'write the JSON report here (kept up to date while running)')
    .option('--resume', 'skip the items already in the --out report (of an interrupted run)')
    .option('--classification-mode <mode>', "classification by 'score' (each label) or 'generate' (grammar of the labels)", 'score')
    .option('-n, --max-tokens <n>', 'most tokens per generation or sql item', int('--max-tokens'), 64)
    .option('--concurrency <n>', 'items in flight (their generation steps are batched)', int('--concurrency'), 4)
    .option('--sql-timeout <ms>', 'time limit of one sql item\'s queries', int('--sql-timeout'), 10000)
    .option('-c, --context-size <n>', 'context size of each lane in tokens', int('--context-size'))
    .option('-t, --threads <n>', 'worker threads (default: physical cores)', int('--threads'))
    .action(async (tasksFile: string, o) => {
      let text: string;
      try {
        text = readFileSync(tasksFile, 'utf8');
      } catch (err) {
        throw new HalfbyteError('FILE_NOT_FOUND', `Cannot read the task file ${tasksFile}: ${(err as Error).message}`);
      }
      if (o.resume && !o.out) throw new HalfbyteError('INVALID_ARGUMENT', 'Expected --out with --resume (the report to resume) but received none');
      let resume: EvaluationReport | undefined;
      if (o.resume && existsSync(o.out)) {
        try {
          resume = JSON.parse(readFileSync(o.out, 'utf8'));
        } catch (err) {
          throw new HalfbyteError('INVALID_ARGUMENT', `Expected a JSON report in ${o.out} for --resume but it does not parse: ${(err as Error).message}`);
        }
      }
      const model = await openModel(o.model ?? defaultModel, o.threads);
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once('SIGINT', onSigint);
      const run = runEvaluation(model, text, {
        shots: o.shots,
        limit: o.limit,
        seed: o.seed,
        classificationMode: o.classificationMode,
        maxTokens: o.maxTokens,
        concurrency: o.concurrency,
        contextSize: o.contextSize,
        sqlTimeout: o.sqlTimeout,
        resume,
        source: basename(tasksFile),
        signal: controller.signal,
      });
      const tty = process.stderr.isTTY;
      const { SingleBar, Presets } = packageRequire('cli-progress') as typeof import('cli-progress');
      const bar = tty
        ? new SingleBar(
            { format: 'eval [{bar}] {value}/{total} items | {rate} items/s | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 50 },
            Presets.shades_classic,
          )
        : undefined;
      let lastWrite = -Infinity;
      let t0 = performance.now();
      let first = 0;
      try {
        for await (const e of run) {
          if (e.type === 'start') {
            bar?.start(e.total, e.resumed, { rate: '-' });
            first = e.resumed;
            t0 = performance.now();
          } else if (e.type === 'item') {
            const rate = (e.done - first) / ((performance.now() - t0) / 1000);
            bar?.update(e.done, { rate: rate.toFixed(1) });
            if (o.out && performance.now() - lastWrite > 1000) {
              writeReport(o.out, run.partialReport()!);
              lastWrite = performance.now();
            }
          }
        }
        bar?.stop();
        const report = await run;
        if (o.out) writeReport(o.out, report);
        process.stdout.write(formatReport(report));
        process.stderr.write(
          `${report.timing.evaluated} items in ${report.timing.seconds.toFixed(2)} s (${report.timing.itemsPerSecond.toFixed(1)} items/s)` +
            (report.timing.resumed ? `, ${report.timing.resumed} from the earlier report` : '') +
            (o.out ? `; report: ${o.out}` : '') +
            '\n',
        );
      } catch (err) {
        bar?.stop();
        const partial = run.partialReport();
        if (o.out && partial && partial.results.length > 0) {
          writeReport(o.out, partial);
          process.stderr.write(`${partial.results.length} items saved in ${o.out}: rerun with --resume to go on\n`);
        }
        throw err;
      } finally {
        process.removeListener('SIGINT', onSigint);
        model.dispose();
      }
    });
}
