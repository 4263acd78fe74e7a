/** `p` with app.asar replaced by app.asar.unpacked, when running in Electron and that path exists; else `p`. */
export declare function outsideAsar(p: string, electron?: boolean): string;
