export declare const packageRoot: string;
export declare const packageRequire: NodeJS.Require;
