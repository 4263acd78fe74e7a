// SQLite for sql evaluation items: node:sqlite where Node has it (22.13+), else the optional
// sql.js package (SQLite compiled to WebAssembly: installs with no compiler). Loaded only when a
// task file has sql items.
import { HalfbyteError } from './errors.js';
import { packageRequire } from './root.js';

/** One in-memory database. */
export interface SqlDatabase {
  /** Runs a script (statements separated by semicolons), returning nothing. */
  exec(sql: string): void;
  /** The rows of the last statement of `sql`, each as an array of column values. */
  query(sql: string): unknown[][];
  close(): void;
}

export interface SqlEngine {
  /** 'node:sqlite' or 'sql.js'. */
  name: string;
  open(): SqlDatabase;
}

interface NodeSqlite {
  DatabaseSync: new (path: string) => {
    exec(sql: string): void;
    prepare(sql: string): { all(): Record<string, unknown>[]; columns?: () => unknown[] };
    close(): void;
  };
}

interface SqlJsStatic {
  Database: new () => {
    run(sql: string): void;
    exec(sql: string): { columns: string[]; values: unknown[][] }[];
    close(): void;
  };
}

let engine: Promise<SqlEngine> | undefined;

async function nodeSqlite(): Promise<SqlEngine | undefined> {
  const get = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  // Node 22.13+ unflagged; getBuiltinModule (22.3+) avoids the warning an import would print where it is flagged.
  let m: NodeSqlite | undefined;
  try {
    m = get ? (get.call(process, 'node:sqlite') as NodeSqlite | undefined) : undefined;
  } catch {
    m = undefined;
  }
  if (!m?.DatabaseSync) return undefined;
  const D = m.DatabaseSync;
  return {
    name: 'node:sqlite',
    open() {
      const db = new D(':memory:');
      return {
        exec: (sql) => db.exec(sql),
        query: (sql) => db.prepare(sql).all().map((row) => Object.values(row)),
        close: () => db.close(),
      };
    },
  };
}

async function sqlJs(): Promise<SqlEngine | undefined> {
  let init: (config?: object) => Promise<SqlJsStatic>;
  try {
    init = packageRequire('sql.js') as typeof init;
  } catch {
    return undefined;
  }
  const SQL = await init();
  return {
    name: 'sql.js',
    open() {
      const db = new SQL.Database();
      return {
        exec: (sql) => db.run(sql),
        query: (sql) => {
          const results = db.exec(sql);
          return results.length === 0 ? [] : results[results.length - 1]!.values;
        },
        close: () => db.close(),
      };
    },
  };
}

/** The SQLite engine (the first call loads it); SQLITE_UNAVAILABLE with an install hint if none. */
export function sqlEngine(): Promise<SqlEngine> {
  engine ??= (async () => {
    const e = (await nodeSqlite()) ?? (await sqlJs());
    if (!e)
      throw new HalfbyteError(
        'SQLITE_UNAVAILABLE',
        `Expected SQLite for sql tasks but received none: Node ${process.versions.node} has no node:sqlite (22.13+) and the optional package sql.js is not installed (npm install sql.js)`,
      );
    return e;
  })();
  engine.catch(() => (engine = undefined));
  return engine;
}

/** The outcome of running a generated query against the reference on the item's database. */
export interface SqlOutcome {
  correct: boolean;
  /** Why the generated query failed to run (then correct is false). */
  error?: string;
  /** Rows the generated query returned. */
  rows?: number;
}

/** A canonical text of a value: numbers as numbers (1 and 1.0 agree), blobs as hex. */
function canon(v: unknown): string {
  if (v instanceof Uint8Array) return 'x' + Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return String(v);
  return JSON.stringify(v ?? null);
}

/**
 * Execution accuracy: the generated query's result equals the reference query's as a multiset
 * of rows (column names do not matter), or as a sequence when the reference has ORDER BY. Each
 * query runs on a fresh database built from `schema`, so one cannot change the other's data.
 */
export function compareQueries(e: SqlEngine, schema: string, reference: string, generated: string): SqlOutcome {
  const run = (q: string): unknown[][] => {
    const db = e.open();
    try {
      db.exec(schema);
      return db.query(q);
    } finally {
      db.close();
    }
  };
  let want: unknown[][];
  try {
    want = run(reference);
  } catch (err) {
    throw new HalfbyteError('INVALID_TASK', `Expected a reference query that runs but received one that fails: ${(err as Error).message}`);
  }
  let got: unknown[][];
  try {
    if (generated.trim().length === 0) throw new Error('empty query');
    got = run(generated);
  } catch (err) {
    return { correct: false, error: (err as Error).message };
  }
  const key = (rows: unknown[][]) => rows.map((r) => r.map(canon).join('\u0000'));
  const a = key(want);
  const b = key(got);
  if (!/\border\s+by\b/i.test(reference)) {
    a.sort();
    b.sort();
  }
  return { correct: a.length === b.length && a.every((x, i) => x === b[i]), rows: got.length };
}
