// halfbyte: run LLaMA-family GGUF models locally.
export { HalfbyteError, errorCodes, errorCodeMeanings } from './errors.js';
export type { HalfbyteErrorCode } from './errors.js';
export { defaultPackCacheDir, load, LoadTask, Model } from './model.js';
export type {
  ChatOptions,
  DetokenizeOptions,
  EvaluateOptions,
  EvaluateResult,
  GenerateOptions,
  GenerationChunk,
  LogitBiasEntry,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  GpuInfo,
  SamplingOptions,
  TokenLogprob,
  TokenizeOptions,
} from './model.js';
export { getCpuInfo, measureReadBandwidth } from './cpu.js';
export { Session } from './session.js';
export { Grammar } from './grammar.js';
export { pull, resolveModel } from './pull.js';
export type { PullOptions, PullResult } from './pull.js';
export { ChatSession } from './chat-session.js';
export type { ChatChunk, ChatEvent, ChatPromptOptions, ChatSessionOptions, ChatTool } from './chat-session.js';
export { parseToolCalls, toolCallGrammar } from './tool-calls.js';
export type { ToolCall, ToolCallFormat, ToolDefinition } from './tool-calls.js';
export { jsonSchemaToGrammar } from './json-schema.js';
export type { JsonSchema } from './json-schema.js';
export { readGgufInfo } from './inspect.js';
export type { TokenizeStreamOptions } from './stream.js';
export { quantize, quantizationTypes } from './quantize.js';
export type { QuantizationType, QuantizeOptions, QuantizeProgress, QuantizeResult } from './quantize.js';
export type { GgufInfo, GgufMetadataValue, GgufTensorInfo } from './inspect.js';
export type { SessionChatOptions, SessionGenerateOptions, SessionOptions, SessionStats } from './session.js';
export type { EmbedOptions, PerplexityOptions, PerplexityResult, ScoreOptions, ScoreResult } from './evaluation.js';
export type { ChatMessage, ChatTemplateOptions } from './chat.js';
export type { CpuInfo, ReadBandwidth, ReadBandwidthOptions } from './cpu.js';
export { EvaluationRun, runEvaluation, reportKey } from './eval.js';
export type { EvalItemResult, EvaluationEvent, EvaluationOptions, EvaluationReport, MultipleChoiceResult, TaskMetrics } from './eval.js';
export { evalItemSchema, parseTasks } from './eval-tasks.js';
export type { ClassificationItem, EvalItem, EvalItemBase, EvalKind, GenerationItem, MultipleChoiceItem, ParsedItem, SqlItem } from './eval-tasks.js';
