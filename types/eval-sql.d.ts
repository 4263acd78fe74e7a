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
/** The SQLite engine (the first call loads it); SQLITE_UNAVAILABLE with an install hint if none. */
export declare function sqlEngine(): Promise<SqlEngine>;
/** The outcome of running a generated query against the reference on the item's database. */
export interface SqlOutcome {
    correct: boolean;
    /** Why the generated query failed to run (then correct is false). */
    error?: string;
    /** Rows the generated query returned. */
    rows?: number;
}
/**
 * Execution accuracy: the generated query's result equals the reference query's as a multiset
 * of rows (column names do not matter), or as a sequence when the reference has ORDER BY. Each
 * query runs on a fresh database built from `schema`, so one cannot change the other's data.
 */
export declare function compareQueries(e: SqlEngine, schema: string, reference: string, generated: string): SqlOutcome;
