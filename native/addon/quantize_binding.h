// N-API surface of the quantizer (native/core/quantize.h): adds quantizeModel to the exports.
#pragma once
#include <napi.h>

// quantizeModel(inPath, outPath, { type, pure, allowRequantize, threads }, onProgress?)
//   -> { promise: Promise<{ tensors, inputBytes, outputBytes, seconds }>, abort(): void }
// onProgress({ tensor, index, count, bytesDone, bytesTotal }) runs on the JS thread; abort()
// makes the promise reject with code ABORTED (no output file is left behind).
void RegisterQuantize(Napi::Env env, Napi::Object exports);
inline void registerQuantize(Napi::Env env, Napi::Object exports) { RegisterQuantize(env, exports); }
