// Type tests of the published declarations (types/, reached through the package's own name, as a
// user's `import ... from 'halfbyte'` reaches them). Checked by `vitest --typecheck` (tsc): an
// assertion that does not hold, or a @ts-expect-error line that compiles, fails the run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  ChatSession,
  Grammar,
  HalfbyteError,
  LoadTask,
  Model,
  Session,
  errorCodes,
  getCpuInfo,
  jsonSchemaToGrammar,
  load,
  measureReadBandwidth,
  parseToolCalls,
  pull,
  quantizationTypes,
  quantize,
  readGgufInfo,
  resolveModel,
  toolCallGrammar,
} from 'halfbyte';
import type {
  ChatEvent,
  ChatMessage,
  CpuInfo,
  GenerateOptions,
  GenerationChunk,
  GgufInfo,
  HalfbyteErrorCode,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  PerplexityResult,
  QuantizationType,
  QuantizeResult,
  ReadBandwidth,
  ScoreResult,
  SessionStats,
  ToolCall,
} from 'halfbyte';

describe('loading', () => {
  test('load returns a LoadTask: awaitable to a Model, iterable as progress', () => {
    expectTypeOf(load).parameters.toEqualTypeOf<[path: string, options?: LoadOptions]>();
    expectTypeOf(load).returns.toEqualTypeOf<LoadTask>();
    expectTypeOf<Awaited<LoadTask>>().toEqualTypeOf<Model>();
    expectTypeOf<LoadTask>().toMatchTypeOf<AsyncIterable<LoadProgress>>();
    expectTypeOf<LoadOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>();
    // @ts-expect-error: a path is a string
    load(42);
    // @ts-expect-error: option values are typed
    load('m.gguf', { threads: '2' });
  });
  test('model info', () => {
    expectTypeOf<Model['info']>().toEqualTypeOf<ModelInfo>();
    expectTypeOf<ModelInfo['architecture']>().toEqualTypeOf<string>();
    expectTypeOf<Model['dispose']>().toEqualTypeOf<() => void>();
    expectTypeOf<Model['disposed']>().toEqualTypeOf<boolean>();
  });
});

describe('generation', () => {
  test('generate streams chunks', () => {
    expectTypeOf<Model['generate']>().returns.toEqualTypeOf<AsyncIterable<GenerationChunk>>();
    expectTypeOf<Model['generate']>().parameter(0).toEqualTypeOf<string | ArrayLike<number>>();
    expectTypeOf<GenerationChunk['token']>().toEqualTypeOf<number>();
    expectTypeOf<GenerationChunk['text']>().toEqualTypeOf<string>();
    expectTypeOf<GenerateOptions['maxTokens']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<GenerateOptions['grammar']>().toMatchTypeOf<string | Grammar | undefined>();
    const m = null as unknown as Model;
    // @ts-expect-error: maxTokens is a number
    m.generate('x', { maxTokens: '3' });
    expectTypeOf(m.generateJson).returns.toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(m.createGrammar).returns.toEqualTypeOf<Grammar>();
    expectTypeOf(jsonSchemaToGrammar).returns.toEqualTypeOf<string>();
  });
  test('tokens', () => {
    expectTypeOf<Model['tokenize']>().returns.toEqualTypeOf<Int32Array>();
    expectTypeOf<Model['detokenize']>().returns.toEqualTypeOf<string>();
    expectTypeOf<Model['tokenBytes']>().returns.toEqualTypeOf<Uint8Array>();
    expectTypeOf<Model['isEndOfGeneration']>().toEqualTypeOf<(token: number) => boolean>();
  });
});

describe('evaluation', () => {
  test('score, perplexity, embed, evaluate', () => {
    expectTypeOf<Model['score']>().returns.toEqualTypeOf<Promise<ScoreResult[]>>();
    expectTypeOf<ScoreResult['logprob']>().toEqualTypeOf<number>();
    expectTypeOf<ScoreResult['tokenLogprobs']>().toEqualTypeOf<Float32Array>();
    expectTypeOf<Model['perplexity']>().returns.toEqualTypeOf<Promise<PerplexityResult>>();
    const m = null as unknown as Model;
    expectTypeOf(m.embed('a')).toEqualTypeOf<Promise<Float32Array>>();
    expectTypeOf(m.embed(['a', 'b'])).toEqualTypeOf<Promise<Float32Array[]>>();
  });
});

describe('sessions and chat', () => {
  test('Session', () => {
    expectTypeOf<Model['createSession']>().returns.toEqualTypeOf<Session>();
    expectTypeOf<Session['generate']>().returns.toEqualTypeOf<AsyncIterable<GenerationChunk>>();
    expectTypeOf<Session['stats']>().toEqualTypeOf<SessionStats>();
  });
  test('ChatSession yields chat events, tool calls among them', () => {
    expectTypeOf<Model['createChatSession']>().returns.toEqualTypeOf<ChatSession>();
    expectTypeOf<ChatSession['prompt']>().returns.toEqualTypeOf<AsyncIterable<ChatEvent>>();
    expectTypeOf<Extract<ChatEvent, { kind: 'tool_call' }>['call']>().toEqualTypeOf<ToolCall>();
    expectTypeOf<ChatMessage['role']>().toMatchTypeOf<string>();
    expectTypeOf(parseToolCalls).returns.toEqualTypeOf<ToolCall[]>();
    expectTypeOf(toolCallGrammar).returns.toEqualTypeOf<string>();
  });
});

describe('files, quantizing, the machine', () => {
  test('readGgufInfo, quantize, pull', () => {
    expectTypeOf(readGgufInfo).toEqualTypeOf<(path: string) => Promise<GgufInfo>>();
    expectTypeOf(quantize).returns.toEqualTypeOf<Promise<QuantizeResult>>();
    expectTypeOf(quantizationTypes).toMatchTypeOf<readonly QuantizationType[]>();
    expectTypeOf<'Q4_K_M'>().toMatchTypeOf<QuantizationType>();
    // @ts-expect-error: not a quantization type
    quantize('a', 'b', { type: 'Q9_9' });
    expectTypeOf(resolveModel).returns.toEqualTypeOf<string>();
    expectTypeOf(pull).returns.toMatchTypeOf<Promise<{ path: string }>>();
  });
  test('cpu', () => {
    expectTypeOf(getCpuInfo).returns.toEqualTypeOf<CpuInfo>();
    expectTypeOf(measureReadBandwidth).returns.toEqualTypeOf<Promise<ReadBandwidth>>();
  });
});

describe('errors', () => {
  test('HalfbyteError has a typed code', () => {
    expectTypeOf<HalfbyteError>().toMatchTypeOf<Error>();
    expectTypeOf<HalfbyteError['code']>().toEqualTypeOf<HalfbyteErrorCode>();
    expectTypeOf<'FILE_NOT_FOUND'>().toMatchTypeOf<HalfbyteErrorCode>();
    expectTypeOf(errorCodes).toMatchTypeOf<readonly HalfbyteErrorCode[]>();
    // @ts-expect-error: not a code halfbyte throws (the union is closed)
    const bad: HalfbyteErrorCode = 'NOT_A_CODE';
    void bad;
  });
});
