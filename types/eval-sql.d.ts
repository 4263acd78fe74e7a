/** The outcome of running a generated query against the reference on the item's database. */
export interface SqlOutcome {
    correct: boolean;
    /** Why the generated query failed to run (then correct is false). */
    error?: string;
    /** Rows the generated query returned. */
    rows?: number;
}
/** SQLite on a worker thread: compare() runs a reference and a generated query. */
export declare class SqlRunner {
    private readonly timeoutMs;
    private readonly root;
    private worker;
    private ready;
    private pending;
    private nextId;
    private queue;
    /**
     * @param timeoutMs Time limit of one comparison (both queries).
     * @param root Where sql.js is looked for (a package folder). Default: halfbyte's.
     */
    constructor(timeoutMs: number, root?: string);
    /** Starts the worker; resolves to the engine name ('node:sqlite' or 'sql.js'), or rejects with SQLITE_UNAVAILABLE. */
    start(): Promise<string>;
    private fail;
    /**
     * Execution accuracy of `generated` against `reference` on a database built by `schema`.
     * Comparisons run one at a time (a timeout ends the worker, which must not take others along).
     */
    compare(schema: string, reference: string, generated: string): Promise<SqlOutcome>;
    private compareNow;
    /** Ends the worker. */
    close(): Promise<void>;
}
