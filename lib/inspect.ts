// Reading a GGUF file's header, metadata and tensor table without loading its weights.
import { outsideAsar } from './asar.js';
import { addon } from './addon.js';
import { nativeAsync } from './errors.js';
import * as v from './validate.js';

export type GgufMetadataValue = string | number | bigint | boolean | Array<string | number | boolean>;

export interface GgufTensorInfo {
  name: string;
  /** Tensor type name, e.g. "Q4_K". */
  type: string;
  /** Dimensions, innermost (row length) first, as GGUF stores them. */
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  bytes: number;
  /** False if the file ends before the tensor's data does (a truncated download). */
  inFile: boolean;
}

export interface GgufInfo {
  version: number;
  alignment: number;
  dataOffset: number;
  fileSize: number;
  metadata: Record<string, GgufMetadataValue>;
  /** GGUF value type of each metadata key, e.g. "uint32" or "array[string]". */
  metadataTypes: Record<string, string>;
  tensors: GgufTensorInfo[];
}

/** Header, metadata and tensor table of a GGUF file; reads no tensor data, so it is fast on any size. */
export function readGgufInfo(path: string): Promise<GgufInfo> {
  v.string(path, 'path');
  return nativeAsync(addon().readGgufInfo(outsideAsar(path)));
}
