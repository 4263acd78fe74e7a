/** The model bundled with the package: stories260K (MIT, karpathy/tinyllamas), 1.2 MB. */
export declare const defaultModelPath: string;
export declare function main(argv: string[]): Promise<void>;
