// SQLite for sql evaluation items: node:sqlite where Node has it (22.13+), else the optional
// sql.js package (SQLite compiled to WebAssembly: installs with no compiler). Loaded only when a
// task file has sql items. Queries run on a worker thread, so a slow generated query (a runaway
// recursive CTE) never blocks the event loop; past the time limit the worker is ended and the
// query counts as wrong.
import { Worker } from 'node:worker_threads';
import { HalfbyteError } from './errors.js';
import { packageRoot } from './root.js';

/** The outcome of running a generated query against the reference on the item's database. */
export interface SqlOutcome {
  correct: boolean;
  /** Why the generated query failed to run (then correct is false). */
  error?: string;
  /** Rows the generated query returned. */
  rows?: number;
}

// The worker (plain CommonJS, evaluated as a string so it needs no separate built file).
// compare(): execution accuracy: the generated query's rows equal the reference query's as a
// multiset (column names do not matter), or as a sequence when the reference has ORDER BY. Each
// query runs on a fresh database built from the schema, so one cannot change the other's data.
const WORKER = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const path = require('node:path');
async function loadEngine() {
  let m;
  try { m = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:sqlite') : undefined; } catch { m = undefined; }
  if (m && m.DatabaseSync) {
    const D = m.DatabaseSync;
    return { name: 'node:sqlite', open() {
      const db = new D(':memory:');
      return { exec: (s) => db.exec(s), query: (s) => db.prepare(s).all().map((r) => Object.values(r)), close: () => db.close() };
    } };
  }
  let init;
  try { init = createRequire(path.join(workerData.root, 'package.json'))('sql.js'); } catch { return null; }
  const SQL = await init();
  return { name: 'sql.js', open() {
    const db = new SQL.Database();
    return { exec: (s) => db.run(s), query: (s) => { const r = db.exec(s); return r.length === 0 ? [] : r[r.length - 1].values; }, close: () => db.close() };
  } };
}
function canon(v) {
  if (v instanceof Uint8Array) return 'x' + Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return String(v);
  return JSON.stringify(v === undefined ? null : v);
}
function run(engine, schema, q) {
  const db = engine.open();
  try { db.exec(schema); return db.query(q); } finally { db.close(); }
}
(async () => {
  const engine = await loadEngine();
  parentPort.postMessage({ type: 'ready', engine: engine ? engine.name : null });
  if (!engine) return;
  parentPort.on('message', ({ id, schema, reference, generated }) => {
    let want;
    try { want = run(engine, schema, reference); }
    catch (err) { parentPort.postMessage({ id, referenceError: String(err && err.message || err) }); return; }
    parentPort.postMessage({ id, phase: 'generated' });
    let got;
    try {
      if (generated.trim().length === 0) throw new Error('empty query');
      got = run(engine, schema, generated);
    } catch (err) { parentPort.postMessage({ id, outcome: { correct: false, error: String(err && err.message || err) } }); return; }
    const key = (rows) => rows.map((r) => r.map(canon).join('\u0000'));
    const a = key(want), b = key(got);
    if (!/\border\s+by\b/i.test(reference)) { a.sort(); b.sort(); }
    parentPort.postMessage({ id, outcome: { correct: a.length === b.length && a.every((x, i) => x === b[i]), rows: got.length } });
  });
})().catch((err) => parentPort.postMessage({ type: 'ready', engine: null, error: String(err && err.message || err) }));
`;

interface Pending {
  resolve: (o: SqlOutcome) => void;
  reject: (e: Error) => void;
  phase: 'reference' | 'generated';
  timer: NodeJS.Timeout;
}

/** SQLite on a worker thread: compare() runs a reference and a generated query. */
export class SqlRunner {
  private worker: Worker | undefined;
  private ready: Promise<string> | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param timeoutMs Time limit of one comparison (both queries).
   * @param root Where sql.js is looked for (a package folder). Default: halfbyte's.
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly root: string = packageRoot,
  ) {}

  /** Starts the worker; resolves to the engine name ('node:sqlite' or 'sql.js'), or rejects with SQLITE_UNAVAILABLE. */
  start(): Promise<string> {
    this.ready ??= new Promise<string>((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: { root: this.root } });
      w.unref();
      this.worker = w;
      w.on('message', (m: { type?: string; engine?: string | null; id?: number; phase?: string; referenceError?: string; outcome?: SqlOutcome }) => {
        if (m.type === 'ready') {
          if (m.engine) resolve(m.engine);
          else {
            void w.terminate();
            reject(
              new HalfbyteError(
                'SQLITE_UNAVAILABLE',
                `Expected SQLite for sql tasks but received none: Node ${process.versions.node} has no node:sqlite (22.13+) and the optional package sql.js is not installed (npm install sql.js)`,
              ),
            );
          }
          return;
        }
        const p = this.pending.get(m.id!);
        if (!p) return;
        if (m.phase === 'generated') {
          p.phase = 'generated';
          return;
        }
        clearTimeout(p.timer);
        this.pending.delete(m.id!);
        if (m.referenceError !== undefined)
          p.reject(new HalfbyteError('INVALID_TASK', `Expected a reference query that runs but received one that fails: ${m.referenceError}`));
        else p.resolve(m.outcome!);
      });
      w.on('error', (err) => {
        reject(new HalfbyteError('SQLITE_UNAVAILABLE', `The SQLite worker failed: ${err.message}`));
        this.fail(new HalfbyteError('INTERNAL', `The SQLite worker failed: ${err.message}`));
      });
    });
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  /**
   * Execution accuracy of `generated` against `reference` on a database built by `schema`.
   * Comparisons run one at a time (a timeout ends the worker, which must not take others along).
   */
  compare(schema: string, reference: string, generated: string): Promise<SqlOutcome> {
    const r = this.queue.then(() => this.compareNow(schema, reference, generated));
    this.queue = r.catch(() => {});
    return r;
  }

  private async compareNow(schema: string, reference: string, generated: string): Promise<SqlOutcome> {
    await this.start();
    const w = this.worker!;
    const id = this.nextId++;
    return new Promise<SqlOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(id)!;
        this.pending.delete(id);
        // The worker is stuck in SQLite: end it (the next comparison starts a fresh one).
        this.worker = undefined;
        this.ready = undefined;
        void w.terminate();
        this.fail(new HalfbyteError('INTERNAL', 'The SQLite worker was ended after a timeout'));
        if (p.phase === 'reference')
          reject(new HalfbyteError('INVALID_TASK', `Expected a reference query that runs within ${this.timeoutMs} ms but received one that does not`));
        else resolve({ correct: false, error: `the query ran longer than ${this.timeoutMs} ms` });
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, phase: 'reference', timer });
      w.postMessage({ id, schema, reference, generated });
    });
  }

  /** Ends the worker. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.fail(new HalfbyteError('DISPOSED', 'The SQLite worker was closed'));
    if (w) await w.terminate();
  }
}
