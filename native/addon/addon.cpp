// N-API surface of halfbyte. The only file that sees N-API: it validates nothing the TypeScript
// layer already validated except what could crash the process (types, ranges, disposed handles),
// runs every long operation on a worker thread, and turns every C++ exception into a JS error
// carrying a `code` (lib/ wraps it into HalfbyteError). Nothing thrown here may escape.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/gguf.h"
#include "../core/grammar.h"
#include "../core/membw.h"
#include "../core/threadpool.h"
#include "../core/model.h"
#include "../core/quant/kernels.h"
#include "../core/sampling.h"
#include "../core/tokenizer.h"
#include "napi_util.h"
#include "quantize_binding.h"

namespace {

using hbnapi::Guard;
using hbnapi::MakeError;
using hbnapi::Throw;
using hbnapi::WorkerError;

int64_t IntValue(Napi::Env env, const Napi::Value& v, const char* what, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) Throw(env, "INVALID_ARGUMENT", std::string("Expected a number for ") + what);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != static_cast<double>(static_cast<int64_t>(d)))
    Throw(env, "INVALID_ARGUMENT",
          std::string("Expected an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) + "] for " + what +
              " but received " + v.ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

bool BoolValue(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsBoolean()) Throw(env, "INVALID_ARGUMENT", std::string("Expected a boolean for ") + what);
  return v.As<Napi::Boolean>().Value();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t lo, int64_t hi) {
  return IntValue(info.Env(), info.Length() > i ? info[i] : info.Env().Undefined(), what, lo, hi);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return BoolValue(info.Env(), info.Length() > i ? info[i] : info.Env().Undefined(), what);
}

std::vector<int32_t> ArgTokens(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    Throw(info.Env(), "INVALID_ARGUMENT", std::string("Expected an Int32Array for ") + what);
  Napi::Int32Array a = info[i].As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

// ---------------------------------------------------------------------------------------------
// AbortFlag: a cancellation flag shared between JS (AbortSignal listener) and native work.

class AbortFlag : public Napi::ObjectWrap<AbortFlag> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "AbortFlag",
                       {InstanceMethod("abort", &AbortFlag::Abort), InstanceMethod("aborted", &AbortFlag::Aborted)});
  }
  explicit AbortFlag(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AbortFlag>(info) {}
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);

 private:
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    flag->store(true);
    return info.Env().Undefined();
  }
  Napi::Value Aborted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), flag->load()); }
};

// Constructors per environment (main thread and each worker_thread load their own copy).
struct AddonData {
  Napi::FunctionReference abort_ctor, model_ctor, sampler_ctor, grammar_ctor;
};
AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

std::shared_ptr<std::atomic<bool>> OptionalAbort(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return std::make_shared<std::atomic<bool>>(false);
  if (!info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(Data(info.Env()).abort_ctor.Value()))
    Throw(info.Env(), "INVALID_ARGUMENT", "Expected an AbortFlag");
  return AbortFlag::Unwrap(info[i].As<Napi::Object>())->flag;
}

// ---------------------------------------------------------------------------------------------
// ModelHandle

struct StepRequest;

struct ModelState {
  std::unique_ptr<hb::Model> model;
  // The vocabulary as a byte trie for grammars, built on first use.
  std::mutex trie_mu;
  std::shared_ptr<const hb::TokenTrie> trie;
  std::shared_ptr<const hb::TokenTrie> Trie() {
    std::lock_guard<std::mutex> lock(trie_mu);
    if (!trie) trie = hb::TokenTrie::build(model->tokenizer());
    return trie;
  }
  // DRY sequence breakers of the last request (the default set is asked for again and again).
  std::vector<std::string> breaker_texts;
  std::vector<std::vector<int32_t>> breakers;
  // Single-token generation steps waiting to be evaluated; concurrent generations on this model
  // are evaluated together (Context::decode_batch reads each weight once for all of them).
  std::mutex step_mu;
  std::vector<std::shared_ptr<StepRequest>> pending_steps;
  // Main thread only. At most one BatchStepWorker runs per model: steps that arrive while it runs
  // wait for the next batch. A start is deferred to setImmediate so that every generation resumed
  // by one batch's results has queued its next step before the next batch is taken.
  bool batch_worker_active = false;
  bool batch_start_scheduled = false;
  uint64_t step_batches = 0;
  uint64_t batched_steps = 0;
};

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ModelHandle",
                       {
                           InstanceMethod("info", &ModelHandle::Info),
                           InstanceMethod("tokenize", &ModelHandle::Tokenize),
                           InstanceMethod("tokenPiece", &ModelHandle::TokenPiece),
                           InstanceMethod("detokenize", &ModelHandle::Detokenize),
                           InstanceMethod("isEog", &ModelHandle::IsEog),
                           InstanceMethod("stepBatchStats", &ModelHandle::StepBatchStats),
                           InstanceMethod("dispose", &ModelHandle::Dispose),
                       });
  }
  explicit ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {}

  // Shared with contexts and in-flight work so dispose() never frees memory still in use.
  std::shared_ptr<ModelState> state;

  const hb::Model& Get(Napi::Env env) {
    if (!state || !state->model) Throw(env, "DISPOSED", "This model has been disposed");
    return *state->model;
  }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const hb::Model& m = Get(env);
    return Guard(env, [&]() -> Napi::Value {
      const hb::HParams& hp = m.hparams();
      const hb::Tokenizer& tok = m.tokenizer();
      const hb::GgufFile& g = m.gguf();
      Napi::Object o = Napi::Object::New(env);
      o.Set("architecture", hp.arch);
      o.Set("name", hp.name);
      o.Set("contextLength", Napi::Number::New(env, static_cast<double>(hp.n_ctx_train)));
      o.Set("embeddingLength", Napi::Number::New(env, static_cast<double>(hp.n_embd)));
      o.Set("layers", Napi::Number::New(env, static_cast<double>(hp.n_layer)));
      o.Set("heads", Napi::Number::New(env, static_cast<double>(hp.n_head)));
      o.Set("kvHeads", Napi::Number::New(env, static_cast<double>(hp.n_head_kv)));
      o.Set("feedForwardLength", Napi::Number::New(env, static_cast<double>(hp.n_ff)));
      o.Set("vocabSize", Napi::Number::New(env, tok.n_vocab()));
      o.Set("fileType", Napi::Number::New(env, hp.file_type));
      o.Set("fileSize", Napi::Number::New(env, static_cast<double>(g.file_size())));
      o.Set("vocabOnly", Napi::Boolean::New(env, m.vocab_only()));
      o.Set("threads", Napi::Number::New(env, m.threads()));
      o.Set("packedBytes", Napi::Number::New(env, static_cast<double>(m.packed_bytes())));
      if (!m.pack_skipped().empty()) o.Set("packSkipped", Napi::String::New(env, m.pack_skipped()));
      if (!m.pack_cache_status().empty()) o.Set("packCache", Napi::String::New(env, m.pack_cache_status()));
      o.Set("tokenizerModel", tok.model());
      o.Set("tokenizerPre", tok.pre());
      o.Set("bos", Napi::Number::New(env, tok.bos()));
      o.Set("eos", Napi::Number::New(env, tok.eos()));
      o.Set("addBos", Napi::Boolean::New(env, tok.add_bos()));
      o.Set("addEos", Napi::Boolean::New(env, tok.add_eos()));
      Napi::Array eog = Napi::Array::New(env);
      for (size_t i = 0; i < tok.eog_ids().size(); i++) eog.Set(static_cast<uint32_t>(i), tok.eog_ids()[i]);
      o.Set("eogTokens", eog);
      Napi::Object counts = Napi::Object::New(env);
      for (auto& kv : m.tensor_type_counts()) counts.Set(kv.first, kv.second);
      o.Set("tensorTypes", counts);
      const hb::GgufValue* tmpl = g.find("tokenizer.chat_template");
      if (tmpl && tmpl->type == hb::GgufValueType::STRING) o.Set("chatTemplate", tmpl->s);
      else o.Set("chatTemplate", env.Null());
      return o;
    });
  }

  Napi::Value Tokenize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const hb::Model& m = Get(env);
    if (info.Length() < 1 || !info[0].IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for text");
    std::string text = info[0].As<Napi::String>().Utf8Value();
    bool add_special = ArgBool(info, 1, "addSpecial");
    bool parse_special = ArgBool(info, 2, "parseSpecial");
    return Guard(env, [&]() -> Napi::Value {
      std::vector<int32_t> ids = m.tokenizer().tokenize(text, add_special, parse_special);
      Napi::Int32Array out = Napi::Int32Array::New(env, ids.size());
      if (!ids.empty()) std::memcpy(out.Data(), ids.data(), ids.size() * sizeof(int32_t));
      return out;
    });
  }

  static Napi::Value Bytes(Napi::Env env, const std::string& s) {
    Napi::Uint8Array out = Napi::Uint8Array::New(env, s.size());
    if (!s.empty()) std::memcpy(out.Data(), s.data(), s.size());
    return out;
  }

  Napi::Value TokenPiece(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const hb::Model& m = Get(env);
    int64_t id = ArgInt(info, 0, "token", INT32_MIN, INT32_MAX);
    bool render_special = ArgBool(info, 1, "renderSpecial");
    return Guard(env, [&] { return Bytes(env, m.tokenizer().token_to_piece(static_cast<int32_t>(id), render_special)); });
  }

  Napi::Value Detokenize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const hb::Model& m = Get(env);
    std::vector<int32_t> ids = ArgTokens(info, 0, "tokens");
    bool render_special = ArgBool(info, 1, "renderSpecial");
    return Guard(env, [&] { return Bytes(env, m.tokenizer().detokenize(ids, render_special)); });
  }

  Napi::Value IsEog(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const hb::Model& m = Get(env);
    // Range-checked like every other token argument (is_eog itself answers false out of range).
    int64_t id = ArgInt(info, 0, "token", INT32_MIN, INT32_MAX);
    return Guard(env, [&] {
      if (id < 0 || id >= m.tokenizer().n_vocab())
        hb::fail("TOKEN_OUT_OF_RANGE", "Expected a token id in [0, " + std::to_string(m.tokenizer().n_vocab()) +
                                           ") but received " + std::to_string(id));
      return Napi::Boolean::New(env, m.tokenizer().is_eog(static_cast<int32_t>(id)));
    });
  }

  // stepBatchStats() -> { batches, steps }: single-token steps evaluated so far and the batches
  // they ran in (how well concurrent generations share weight reads).
  Napi::Value StepBatchStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Get(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("batches", Napi::Number::New(env, static_cast<double>(state->step_batches)));
    o.Set("steps", Napi::Number::New(env, static_cast<double>(state->batched_steps)));
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // Contexts and in-flight work hold their own reference to the state; the model itself is
    // freed when the last of them lets go.
    state.reset();
    return info.Env().Undefined();
  }
};

// loadModel(path, { threads, vocabOnly, packWeights, packCacheDir? }, onProgress?, abortFlag?) -> Promise<ModelHandle>
// (the options object is lib/addon.ts NativeLoadOptions, validated and defaulted in lib/model.ts)
class LoadWorker : public Napi::AsyncProgressQueueWorker<uint64_t> {
 public:
  LoadWorker(Napi::Env env, std::string path, hb::LoadOptions opts, Napi::Function on_progress,
             std::shared_ptr<std::atomic<bool>> abort)
      : Napi::AsyncProgressQueueWorker<uint64_t>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        opts_(std::move(opts)),
        abort_(std::move(abort)) {
    if (!on_progress.IsEmpty()) progress_cb_ = Napi::Persistent(on_progress);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    err_.Run([&] {
      hb::LoadOptions opts = opts_;
      uint64_t last_sent = ~uint64_t(0);
      opts.progress = [&](uint64_t done, uint64_t total) {
        if (done != last_sent) {
          uint64_t pair[2] = {done, total};
          progress.Send(pair, 2);
          last_sent = done;
        }
        return !abort_->load();
      };
      if (abort_->load()) hb::fail("ABORTED", "Loading was aborted");
      model_ = hb::Model::load(path_, opts);
    });
  }
  void OnProgress(const uint64_t* data, size_t count) override {
    if (progress_cb_.IsEmpty() || count < 2) return;
    Napi::Env env = Env();
    try {
      progress_cb_.Call({Napi::Number::New(env, static_cast<double>(data[0])), Napi::Number::New(env, static_cast<double>(data[1]))});
    } catch (...) {
      // A throwing progress listener must not break loading.
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_.set) {
      deferred_.Reject(MakeError(env, err_.code, err_.message).Value());
      return;
    }
    Napi::Object obj = Data(env).model_ctor.New({});
    ModelHandle* h = ModelHandle::Unwrap(obj);
    h->state = std::make_shared<ModelState>();
    h->state->model = std::move(model_);
    deferred_.Resolve(obj);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  hb::LoadOptions opts_;
  std::shared_ptr<std::atomic<bool>> abort_;
  Napi::FunctionReference progress_cb_;
  std::unique_ptr<hb::Model> model_;
  WorkerError err_;
};

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for path");
    if (info.Length() < 2 || !info[1].IsObject()) Throw(env, "INVALID_ARGUMENT", "Expected a load options object");
    const Napi::Object o = info[1].As<Napi::Object>();
    hb::LoadOptions opts;
    opts.threads = static_cast<int>(IntValue(env, o.Get("threads"), "threads", 0, 1024));
    opts.vocab_only = BoolValue(env, o.Get("vocabOnly"), "vocabOnly");
    opts.pack_weights = BoolValue(env, o.Get("packWeights"), "packWeights");
    const Napi::Value dir = o.Get("packCacheDir");
    if (!dir.IsUndefined()) {
      if (!dir.IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for packCacheDir");
      opts.pack_cache_dir = dir.As<Napi::String>().Utf8Value();
    }
    Napi::Function cb;
    if (info.Length() > 2 && info[2].IsFunction()) cb = info[2].As<Napi::Function>();
    auto abort = OptionalAbort(info, 3);
    auto* w = new LoadWorker(env, info[0].As<Napi::String>().Utf8Value(), opts, cb, abort);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  });
}

ModelHandle* UnwrapModel(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Data(env).model_ctor.Value()))
    Throw(env, "INVALID_ARGUMENT", "Expected a ModelHandle");
  return ModelHandle::Unwrap(v.As<Napi::Object>());
}

// ---------------------------------------------------------------------------------------------
// GrammarHandle: a parsed GBNF grammar (new GrammarHandle(text) throws GRAMMAR_SYNTAX), with the
// per-vocabulary caches of the last model it was used with.

class GrammarHandle : public Napi::ObjectWrap<GrammarHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "GrammarHandle", {InstanceMethod("ruleCount", &GrammarHandle::RuleCount)});
  }
  explicit GrammarHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GrammarHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for grammar");
    const std::string text = info[0].As<Napi::String>().Utf8Value();
    Guard(env, [&] { grammar = hb::Grammar::parse(text); });
  }
  std::shared_ptr<const hb::Grammar> grammar;
  // The caches for one model's vocabulary (a new model gets new ones).
  std::shared_ptr<hb::GrammarVocab> VocabFor(const std::shared_ptr<ModelState>& m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!vocab_ || vocab_model_.lock() != m) {
      vocab_ = std::make_shared<hb::GrammarVocab>(grammar, m->Trie());
      vocab_model_ = m;
    }
    return vocab_;
  }

 private:
  Napi::Value RuleCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(grammar->n_written_rules));
  }
  std::mutex mu_;
  std::shared_ptr<hb::GrammarVocab> vocab_;
  std::weak_ptr<ModelState> vocab_model_;
};

// ---------------------------------------------------------------------------------------------
// SamplerHandle

// Each string as llama.cpp's DRY turns a sequence breaker into token sequences: every token
// whose text contains it breaks alone; a token whose text ends with a proper prefix of it heads
// a sequence whose tail is the rest, tokenized (at most 20 tokens).
std::vector<std::vector<int32_t>> DryBreakers(const hb::Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<std::vector<int32_t>> out;
  for (std::string str : texts) {
    if (str.empty()) continue;
    if (str.size() > 40) str.resize(40);
    for (int32_t id = 0; id < tok.n_vocab(); id++) {
      const std::string word = tok.detokenize({id}, true);
      if (word.find(str) != std::string::npos) {
        out.push_back({id});
        continue;
      }
      for (size_t pos = word.find(str[0]); pos != std::string::npos; pos = word.find(str[0], pos + 1)) {
        size_t i = 1;
        bool match = true;
        for (; i < str.size() && pos + i < word.size(); i++)
          if (word[pos + i] != str[i]) {
            match = false;
            break;
          }
        if (!match) continue;
        std::vector<int32_t> seq = {id};
        std::vector<int32_t> tail = tok.tokenize(str.substr(i), false, false);
        if (tail.size() > 20) tail.resize(20);
        seq.insert(seq.end(), tail.begin(), tail.end());
        if (std::find(out.begin(), out.end(), seq) == out.end()) out.push_back(seq);
      }
    }
  }
  return out;
}

class SamplerHandle : public Napi::ObjectWrap<SamplerHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "SamplerHandle",
                       {InstanceMethod("accept", &SamplerHandle::Accept), InstanceMethod("dispose", &SamplerHandle::Dispose)});
  }
  // new SamplerHandle(model: ModelHandle, options: { temperature, topK, ... }, grammar?: GrammarHandle):
  // the options object as lib/generation.ts builds it (every field present and validated there;
  // checked again here only for types, so nothing can crash).
  explicit SamplerHandle(const Napi::CallbackInfo& info);
  std::shared_ptr<hb::Sampler> sampler;

 private:
  Napi::Value Accept(const Napi::CallbackInfo& info) {
    std::vector<int32_t> ids = ArgTokens(info, 0, "tokens");
    if (!sampler) Throw(info.Env(), "DISPOSED", "This sampler has been disposed");
    for (int32_t t : ids) sampler->accept(t);
    return info.Env().Undefined();
  }
  // Frees the sampler now (its candidate buffers and grammar state) rather than when the GC gets
  // to this small wrapper, which it may not for a long time: V8 does not see native memory. A step
  // in flight keeps its own reference.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    sampler.reset();
    return info.Env().Undefined();
  }
};

SamplerHandle::SamplerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerHandle>(info) {
  Napi::Env env = info.Env();
  ModelHandle* mh = UnwrapModel(env, info.Length() > 0 ? info[0] : env.Undefined());
  const hb::Model& m = mh->Get(env);
  if (info.Length() < 2 || !info[1].IsObject()) Throw(env, "INVALID_ARGUMENT", "Expected a sampler options object");
  Napi::Object o = info[1].As<Napi::Object>();
  auto num = [&](const char* key) {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) Throw(env, "INVALID_ARGUMENT", std::string("Expected a number for ") + key);
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) Throw(env, "INVALID_ARGUMENT", std::string("Expected a number for ") + key + " but received NaN");
    return d;
  };
  auto integer = [&](const char* key, double lo, double hi) {
    const double d = num(key);
    if (!(d >= lo && d <= hi) || d != std::floor(d))
      Throw(env, "INVALID_ARGUMENT", std::string("Expected an integer in range for ") + key);
    return d;
  };
  hb::SamplerParams p;
  p.temperature = static_cast<float>(num("temperature"));
  p.top_k = static_cast<int32_t>(integer("topK", 0, INT32_MAX));
  p.top_p = static_cast<float>(num("topP"));
  p.min_p = static_cast<float>(num("minP"));
  p.typical_p = static_cast<float>(num("typicalP"));
  p.repeat_penalty = static_cast<float>(num("repeatPenalty"));
  p.presence_penalty = static_cast<float>(num("presencePenalty"));
  p.frequency_penalty = static_cast<float>(num("frequencyPenalty"));
  p.repeat_last_n = static_cast<int32_t>(integer("repeatLastN", 0, 1 << 20));
  p.dry_multiplier = static_cast<float>(num("dryMultiplier"));
  p.dry_base = static_cast<float>(num("dryBase"));
  p.dry_allowed_length = static_cast<int32_t>(integer("dryAllowedLength", 0, 1 << 20));
  p.dry_penalty_last_n = static_cast<int32_t>(integer("dryPenaltyLastN", -1, 1 << 20));
  p.xtc_probability = static_cast<float>(num("xtcProbability"));
  p.xtc_threshold = static_cast<float>(num("xtcThreshold"));
  p.mirostat = integer("mirostat", 0, 2) == 2;
  p.mirostat_tau = static_cast<float>(num("mirostatTau"));
  p.mirostat_eta = static_cast<float>(num("mirostatEta"));
  p.seed = static_cast<uint64_t>(integer("seed", 0, 9007199254740992.0));
  Napi::Value ids = o.Get("biasTokens"), biases = o.Get("biasValues");
  if (!ids.IsTypedArray() || ids.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !biases.IsTypedArray() ||
      biases.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      ids.As<Napi::Int32Array>().ElementLength() != biases.As<Napi::Float32Array>().ElementLength())
    Throw(env, "INVALID_ARGUMENT", "Expected biasTokens (Int32Array) and biasValues (Float32Array) of one length");
  Napi::Int32Array id_arr = ids.As<Napi::Int32Array>();
  Napi::Float32Array bias_arr = biases.As<Napi::Float32Array>();
  for (size_t i = 0; i < id_arr.ElementLength(); i++) p.logit_bias.emplace_back(id_arr[i], bias_arr[i]);
  if (p.dry_multiplier != 0.0f) {
    Napi::Value br = o.Get("drySequenceBreakers");
    if (!br.IsArray()) Throw(env, "INVALID_ARGUMENT", "Expected an array of strings for drySequenceBreakers");
    Napi::Array arr = br.As<Napi::Array>();
    std::vector<std::string> texts;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value e = arr.Get(i);
      if (!e.IsString()) Throw(env, "INVALID_ARGUMENT", "Expected an array of strings for drySequenceBreakers");
      texts.push_back(e.As<Napi::String>().Utf8Value());
    }
    ModelState& st = *mh->state;
    std::lock_guard<std::mutex> lock(st.trie_mu);
    if (st.breaker_texts != texts || st.breakers.empty()) {
      Guard(env, [&] { st.breakers = DryBreakers(m.tokenizer(), texts); });
      st.breaker_texts = texts;
    }
    p.dry_breakers = st.breakers;
  }
  std::unique_ptr<hb::GrammarMatcher> matcher;
  if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
    if (!info[2].IsObject() || !info[2].As<Napi::Object>().InstanceOf(Data(env).grammar_ctor.Value()))
      Throw(env, "INVALID_ARGUMENT", "Expected a GrammarHandle");
    GrammarHandle* g = GrammarHandle::Unwrap(info[2].As<Napi::Object>());
    Guard(env, [&] { matcher = std::make_unique<hb::GrammarMatcher>(g->VocabFor(mh->state)); });
  }
  sampler = std::make_shared<hb::Sampler>(p, std::move(matcher));
}

// ---------------------------------------------------------------------------------------------
// ContextHandle: one KV cache. One operation at a time; a second one is refused with CONTEXT_BUSY.

struct ContextState {
  std::shared_ptr<ModelState> model;  // keeps the weights alive while this context exists
  std::unique_ptr<hb::Context> ctx;
  std::atomic<bool> busy{false};
  std::vector<float> logits;
};

// One generation step of one context: evaluate one token, sample the next.
struct StepRequest {
  std::shared_ptr<ContextState> st;
  int32_t token = 0;
  std::shared_ptr<hb::Sampler> sampler;
  std::shared_ptr<std::atomic<bool>> abort;
  Napi::Promise::Deferred deferred;
  int32_t next = -1;
  WorkerError err;
  explicit StepRequest(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void ScheduleBatchStart(Napi::Env env, const std::shared_ptr<ModelState>& model);

// Takes every pending step of a model when it runs and evaluates them in one batch. One runs at a
// time per model (see ScheduleBatchStart).
class BatchStepWorker : public Napi::AsyncWorker {
 public:
  BatchStepWorker(Napi::Env env, std::shared_ptr<ModelState> model) : Napi::AsyncWorker(env), model_(std::move(model)) {}

  void Execute() override {
    {
      std::lock_guard<std::mutex> lock(model_->step_mu);
      taken_.swap(model_->pending_steps);
    }
    std::vector<StepRequest*> run;
    for (auto& r : taken_) {
      if (r->abort->load()) r->err.Run([] { hb::fail("ABORTED", "The generation was aborted"); });
      else run.push_back(r.get());
    }
    if (run.size() > 1) {
      std::vector<hb::Context*> ctxs;
      std::vector<int32_t> tokens;
      for (StepRequest* r : run) {
        ctxs.push_back(r->st->ctx.get());
        tokens.push_back(r->token);
      }
      WorkerError batch_err;
      batch_err.Run([&] {
        hb::Context::decode_batch(ctxs.data(), tokens.data(), static_cast<int64_t>(run.size()), logits_);
      });
      if (!batch_err.set) {
        const size_t n_vocab = logits_.size() / run.size();
        for (size_t i = 0; i < run.size(); i++) {
          StepRequest* r = run[i];
          r->err.Run([&] {
            r->next = r->sampler->sample(logits_.data() + i * n_vocab, static_cast<int32_t>(n_vocab));
            r->sampler->accept_sampled(r->next);
          });
        }
        return;
      }
      // All or nothing failed (e.g. one context is full): evaluate one by one so each step gets
      // its own result or error.
    }
    for (StepRequest* r : run) {
      r->err.Run([&] {
        r->st->ctx->decode(&r->token, 1, false, r->st->logits, r->abort.get());
        const int32_t n_vocab = static_cast<int32_t>(r->st->logits.size());
        r->next = r->sampler->sample(r->st->logits.data(), n_vocab);
        r->sampler->accept_sampled(r->next);
      });
    }
  }
  void OnOK() override { Settle(); }
  void OnError(const Napi::Error&) override { Settle(); }

 private:
  void Settle() {
    Napi::Env env = Env();
    for (auto& r : taken_) {
      r->st->busy.store(false);
      if (r->err.set) r->deferred.Reject(MakeError(env, r->err.code, r->err.message).Value());
      else r->deferred.Resolve(Napi::Number::New(env, r->next));
    }
    model_->step_batches++;
    model_->batched_steps += taken_.size();
    model_->batch_worker_active = false;
    ScheduleBatchStart(env, model_);
  }
  std::shared_ptr<ModelState> model_;
  std::vector<std::shared_ptr<StepRequest>> taken_;
  std::vector<float> logits_;
};

// Starts the model's batch worker on the next turn of the event loop, unless one runs or a start is
// already scheduled. Continuations of the steps a batch resolves run as microtasks before that
// turn, so concurrent generations land in the same batch instead of one worker each.
void StartBatchNow(Napi::Env env, const std::shared_ptr<ModelState>& model) {
  model->batch_start_scheduled = false;
  if (model->batch_worker_active) return;
  {
    std::lock_guard<std::mutex> lock(model->step_mu);
    if (model->pending_steps.empty()) return;
  }
  model->batch_worker_active = true;
  (new BatchStepWorker(env, model))->Queue();
}

void ScheduleBatchStart(Napi::Env env, const std::shared_ptr<ModelState>& model) {
  if (model->batch_worker_active || model->batch_start_scheduled) return;
  {
    std::lock_guard<std::mutex> lock(model->step_mu);
    if (model->pending_steps.empty()) return;
  }
  Napi::Value set_immediate = env.Global().Get("setImmediate");
  if (!set_immediate.IsFunction()) {
    StartBatchNow(env, model);
    return;
  }
  model->batch_start_scheduled = true;
  // Weak: the callback object lives until the GC collects it and must not keep a model alive.
  std::weak_ptr<ModelState> weak = model;
  auto start = Napi::Function::New(
      env,
      [weak](const Napi::CallbackInfo& info) {
        if (auto m = weak.lock()) StartBatchNow(info.Env(), m);
      },
      "halfbyteBatchStart");
  set_immediate.As<Napi::Function>().Call({start});
}

class ContextHandle : public Napi::ObjectWrap<ContextHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ContextHandle",
                       {
                           InstanceMethod("decode", &ContextHandle::Decode),
                           InstanceMethod("step", &ContextHandle::Step),
                           InstanceMethod("scoreTokens", &ContextHandle::ScoreTokens),
                           InstanceMethod("saveState", &ContextHandle::SaveState),
                           InstanceMethod("loadState", &ContextHandle::LoadState),
                           InstanceMethod("decodeHidden", &ContextHandle::DecodeHidden),
                           InstanceMethod("nPast", &ContextHandle::NPast),
                           InstanceMethod("nCtx", &ContextHandle::NCtx),
                           InstanceMethod("truncate", &ContextHandle::Truncate),
                           InstanceMethod("dispose", &ContextHandle::Dispose),
                       });
  }
  // new ContextHandle(model, nCtx)
  explicit ContextHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ContextHandle>(info) {
    Napi::Env env = info.Env();
    ModelHandle* mh = UnwrapModel(env, info.Length() > 0 ? info[0] : env.Undefined());
    const hb::Model& m = mh->Get(env);
    if (m.vocab_only()) Throw(env, "VOCAB_ONLY", "This model was loaded with vocabOnly: true and cannot evaluate");
    int64_t n_ctx = ArgInt(info, 1, "contextSize", 0, int64_t(1) << 24);
    // Optional: the context size the caller presents (generations allocate only what they use;
    // LongRoPE chooses its factors by the presented size).
    int64_t rope_n_ctx = info.Length() > 2 && !info[2].IsUndefined() ? ArgInt(info, 2, "ropeContextSize", 0, int64_t(1) << 24) : 0;
    state_ = std::make_shared<ContextState>();
    state_->model = mh->state;
    Guard(env, [&] { state_->ctx = std::make_unique<hb::Context>(m, n_ctx, false, rope_n_ctx); });
  }

 private:
  std::shared_ptr<ContextState> state_;

  ContextState& Acquire(Napi::Env env) {
    if (!state_ || !state_->ctx) Throw(env, "DISPOSED", "This context has been disposed");
    bool expected = false;
    if (!state_->busy.compare_exchange_strong(expected, true))
      Throw(env, "CONTEXT_BUSY", "A generation or evaluation is already running on this context");
    return *state_;
  }

  // decode(tokens: Int32Array, allLogits: boolean, abort?: AbortFlag) -> Promise<Float32Array>
  // What a DecodeWorker returns once the tokens are evaluated.
  enum class DecodeResult {
    Logits,      // the logits rows (last or all)
    Token,       // a token sampled from the last row (recorded in the sampler)
    TokenProbs,  // the sampled token, its log-probability and the top-k alternatives
    TargetProbs, // log-probability of targets[i] at each row i (needs all rows)
  };

  class DecodeWorker : public Napi::AsyncWorker {
   public:
    DecodeWorker(Napi::Env env, std::shared_ptr<ContextState> st, std::vector<int32_t> tokens, DecodeResult kind,
                 bool all, std::shared_ptr<std::atomic<bool>> abort)
        : Napi::AsyncWorker(env),
          deferred_(Napi::Promise::Deferred::New(env)),
          st_(std::move(st)),
          tokens_(std::move(tokens)),
          kind_(kind),
          all_(all),
          abort_(std::move(abort)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    std::shared_ptr<hb::Sampler> sampler;
    int32_t top_k = 0;
    std::vector<int32_t> targets;

    void Execute() override {
      err_.Run([&] {
        st_->ctx->decode(tokens_.data(), static_cast<int64_t>(tokens_.size()), all_, st_->logits, abort_.get());
        const int32_t n_vocab = static_cast<int32_t>(st_->model->model->hparams().n_vocab);
        if (kind_ == DecodeResult::Token || kind_ == DecodeResult::TokenProbs) {
          token_ = sampler->sample(st_->logits.data(), n_vocab);
          sampler->accept_sampled(token_);
        }
        if (kind_ == DecodeResult::TokenProbs) {
          // Log-probabilities of the model's own distribution (before sampling transforms).
          const float* row = st_->logits.data();
          double lse = LogSumExp(row, n_vocab);
          logprob_ = static_cast<float>(row[token_] - lse);
          int32_t k = std::min(top_k, n_vocab);
          top_ids_.resize(n_vocab);
          for (int32_t i = 0; i < n_vocab; i++) top_ids_[i] = i;
          std::partial_sort(top_ids_.begin(), top_ids_.begin() + k, top_ids_.end(),
                            [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
          top_ids_.resize(k);
          for (int32_t id : top_ids_) top_lp_.push_back(static_cast<float>(row[id] - lse));
        }
        if (kind_ == DecodeResult::TargetProbs) {
          target_lp_.resize(targets.size());
          for (size_t i = 0; i < targets.size(); i++) {
            const float* row = st_->logits.data() + i * static_cast<size_t>(n_vocab);
            int32_t t = targets[i];
            target_lp_[i] = (t < 0 || t >= n_vocab) ? NAN : static_cast<float>(row[t] - LogSumExp(row, n_vocab));
          }
        }
      });
    }
    void OnOK() override {
      Napi::Env env = Env();
      st_->busy.store(false);
      if (err_.set) {
        deferred_.Reject(MakeError(env, err_.code, err_.message).Value());
        return;
      }
      switch (kind_) {
        case DecodeResult::Token:
          deferred_.Resolve(Napi::Number::New(env, token_));
          return;
        case DecodeResult::TokenProbs: {
          Napi::Object o = Napi::Object::New(env);
          o.Set("token", Napi::Number::New(env, token_));
          o.Set("logprob", Napi::Number::New(env, logprob_));
          Napi::Int32Array ids = Napi::Int32Array::New(env, top_ids_.size());
          Napi::Float32Array lps = Napi::Float32Array::New(env, top_lp_.size());
          if (!top_ids_.empty()) std::memcpy(ids.Data(), top_ids_.data(), top_ids_.size() * sizeof(int32_t));
          if (!top_lp_.empty()) std::memcpy(lps.Data(), top_lp_.data(), top_lp_.size() * sizeof(float));
          o.Set("topTokens", ids);
          o.Set("topLogprobs", lps);
          deferred_.Resolve(o);
          return;
        }
        case DecodeResult::TargetProbs: {
          Napi::Float32Array out = Napi::Float32Array::New(env, target_lp_.size());
          if (!target_lp_.empty()) std::memcpy(out.Data(), target_lp_.data(), target_lp_.size() * sizeof(float));
          deferred_.Resolve(out);
          return;
        }
        case DecodeResult::Logits: {
          Napi::Float32Array out = Napi::Float32Array::New(env, st_->logits.size());
          std::memcpy(out.Data(), st_->logits.data(), st_->logits.size() * sizeof(float));
          deferred_.Resolve(out);
          return;
        }
      }
    }
    void OnError(const Napi::Error& e) override {
      st_->busy.store(false);
      deferred_.Reject(e.Value());
    }

   private:
    static double LogSumExp(const float* row, int32_t n) {
      float mx = row[0];
      for (int32_t i = 1; i < n; i++) mx = std::max(mx, row[i]);
      double sum = 0;
      for (int32_t i = 0; i < n; i++) sum += std::exp(static_cast<double>(row[i] - mx));
      return mx + std::log(sum);
    }
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<ContextState> st_;
    std::vector<int32_t> tokens_;
    DecodeResult kind_;
    bool all_;
    std::shared_ptr<std::atomic<bool>> abort_;
    int32_t token_ = -1;
    float logprob_ = 0;
    std::vector<int32_t> top_ids_;
    std::vector<float> top_lp_;
    std::vector<float> target_lp_;
    WorkerError err_;
  };

  // Runs one context operation on a worker thread; `run` fills what `resolve` turns into JS.
  class ContextTask : public Napi::AsyncWorker {
   public:
    ContextTask(Napi::Env env, std::shared_ptr<ContextState> st, std::function<void(ContextTask&)> run,
                std::function<Napi::Value(Napi::Env, ContextTask&)> resolve)
        : Napi::AsyncWorker(env),
          deferred_(Napi::Promise::Deferred::New(env)),
          st_(std::move(st)),
          run_(std::move(run)),
          resolve_(std::move(resolve)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    ContextState& state() { return *st_; }
    std::vector<float> floats;
    std::vector<int32_t> ints;
    void Execute() override { err_.Run([&] { run_(*this); }); }
    void OnOK() override {
      Napi::Env env = Env();
      st_->busy.store(false);
      if (err_.set) {
        deferred_.Reject(MakeError(env, err_.code, err_.message).Value());
        return;
      }
      try {
        deferred_.Resolve(resolve_(env, *this));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      }
    }
    void OnError(const Napi::Error& e) override {
      st_->busy.store(false);
      deferred_.Reject(e.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<ContextState> st_;
    std::function<void(ContextTask&)> run_;
    std::function<Napi::Value(Napi::Env, ContextTask&)> resolve_;
    WorkerError err_;
  };

  Napi::Value Queue(Napi::Env env, std::function<void(ContextTask&)> run,
                    std::function<Napi::Value(Napi::Env, ContextTask&)> resolve) {
    Acquire(env);
    auto* w = new ContextTask(env, state_, std::move(run), std::move(resolve));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  static std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (info.Length() <= i || !info[i].IsString())
      Throw(info.Env(), "INVALID_ARGUMENT", std::string("Expected a string for ") + what);
    return info[i].As<Napi::String>().Utf8Value();
  }

  // saveState(path, magic, tokens: Int32Array) -> Promise<void>
  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    std::string path = ArgString(info, 0, "path"), magic = ArgString(info, 1, "magic");
    std::vector<int32_t> tokens = ArgTokens(info, 2, "tokens");
    return Queue(
        info.Env(), [=](ContextTask& t) { t.state().ctx->save_state(path, magic, tokens); },
        [](Napi::Env env, ContextTask&) -> Napi::Value { return env.Undefined(); });
  }

  // loadState(path, magic) -> Promise<Int32Array> (the tokens now cached)
  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    std::string path = ArgString(info, 0, "path"), magic = ArgString(info, 1, "magic");
    return Queue(
        info.Env(), [=](ContextTask& t) { t.ints = t.state().ctx->load_state(path, magic); },
        [](Napi::Env env, ContextTask& t) -> Napi::Value {
          Napi::Int32Array out = Napi::Int32Array::New(env, t.ints.size());
          if (!t.ints.empty()) std::memcpy(out.Data(), t.ints.data(), t.ints.size() * sizeof(int32_t));
          return out;
        });
  }

  // decodeHidden(tokens, abort?) -> Promise<Float32Array>: final hidden states, n rows of n_embd.
  Napi::Value DecodeHidden(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> tokens = ArgTokens(info, 0, "tokens");
    if (tokens.empty()) Throw(env, "INVALID_ARGUMENT", "Expected at least one token to evaluate");
    auto abort = OptionalAbort(info, 1);
    return Queue(
        env,
        [tokens = std::move(tokens), abort](ContextTask& t) {
          t.state().ctx->decode_hidden(tokens.data(), static_cast<int64_t>(tokens.size()), t.floats, abort.get());
        },
        [](Napi::Env env, ContextTask& t) -> Napi::Value {
          Napi::Float32Array out = Napi::Float32Array::New(env, t.floats.size());
          if (!t.floats.empty()) std::memcpy(out.Data(), t.floats.data(), t.floats.size() * sizeof(float));
          return out;
        });
  }

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> tokens = ArgTokens(info, 0, "tokens");
    bool all = ArgBool(info, 1, "allLogits");
    auto abort = OptionalAbort(info, 2);
    if (tokens.empty()) Throw(env, "INVALID_ARGUMENT", "Expected at least one token to evaluate");
    Acquire(env);
    auto* w = new DecodeWorker(env, state_, std::move(tokens), DecodeResult::Logits, all, abort);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // scoreTokens(tokens: Int32Array, targets: Int32Array, abort?) -> Promise<Float32Array>:
  // evaluates tokens; element i is log p(targets[i] | tokens[..i]) (NaN where targets[i] < 0).
  Napi::Value ScoreTokens(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> tokens = ArgTokens(info, 0, "tokens");
    std::vector<int32_t> targets = ArgTokens(info, 1, "targets");
    auto abort = OptionalAbort(info, 2);
    if (tokens.empty()) Throw(env, "INVALID_ARGUMENT", "Expected at least one token to evaluate");
    if (targets.size() != tokens.size())
      Throw(env, "INVALID_ARGUMENT", "Expected as many targets as tokens but received " + std::to_string(targets.size()) +
                                         " targets for " + std::to_string(tokens.size()) + " tokens");
    Acquire(env);
    auto* w = new DecodeWorker(env, state_, std::move(tokens), DecodeResult::TargetProbs, true, abort);
    w->targets = std::move(targets);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // step(tokens: Int32Array, sampler: SamplerHandle, abort?: AbortFlag, topLogprobs?: number)
  //   -> Promise<number | { token, logprob, topTokens, topLogprobs }>:
  // evaluates tokens, samples the next one from the last row and records it in the sampler; with
  // topLogprobs >= 0 also its log-probability and the k most likely tokens'.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> tokens = ArgTokens(info, 0, "tokens");
    if (info.Length() < 2 || !info[1].IsObject() || !info[1].As<Napi::Object>().InstanceOf(Data(env).sampler_ctor.Value()))
      Throw(env, "INVALID_ARGUMENT", "Expected a SamplerHandle");
    auto sampler = SamplerHandle::Unwrap(info[1].As<Napi::Object>())->sampler;
    if (!sampler) Throw(env, "DISPOSED", "This sampler has been disposed");
    auto abort = OptionalAbort(info, 2);
    if (tokens.empty()) Throw(env, "INVALID_ARGUMENT", "Expected at least one token to evaluate");
    int64_t top_k = -1;
    if (info.Length() > 3 && !info[3].IsUndefined()) top_k = ArgInt(info, 3, "topLogprobs", 0, 1 << 20);
    Acquire(env);
    if (tokens.size() == 1 && top_k < 0) {
      // A plain decode step: join (or start) this model's batch of concurrent steps.
      auto req = std::make_shared<StepRequest>(env);
      req->st = state_;
      req->token = tokens[0];
      req->sampler = std::move(sampler);
      req->abort = abort;
      Napi::Promise p = req->deferred.Promise();
      {
        std::lock_guard<std::mutex> lock(state_->model->step_mu);
        state_->model->pending_steps.push_back(std::move(req));
      }
      ScheduleBatchStart(env, state_->model);
      return p;
    }
    auto* w = new DecodeWorker(env, state_, std::move(tokens), top_k >= 0 ? DecodeResult::TokenProbs : DecodeResult::Token,
                               false, abort);
    w->sampler = std::move(sampler);
    w->top_k = static_cast<int32_t>(std::max<int64_t>(top_k, 0));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value NPast(const Napi::CallbackInfo& info) {
    if (!state_ || !state_->ctx) Throw(info.Env(), "DISPOSED", "This context has been disposed");
    return Napi::Number::New(info.Env(), static_cast<double>(state_->ctx->n_past()));
  }
  Napi::Value NCtx(const Napi::CallbackInfo& info) {
    if (!state_ || !state_->ctx) Throw(info.Env(), "DISPOSED", "This context has been disposed");
    return Napi::Number::New(info.Env(), static_cast<double>(state_->ctx->n_ctx()));
  }
  Napi::Value Truncate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_ || !state_->ctx) Throw(env, "DISPOSED", "This context has been disposed");
    if (state_->busy.load()) Throw(env, "CONTEXT_BUSY", "A generation or evaluation is already running on this context");
    int64_t n = ArgInt(info, 0, "n", 0, state_->ctx->n_past());
    int64_t kept = 0;
    Guard(env, [&] { kept = state_->ctx->truncate(n); });
    return Napi::Number::New(env, static_cast<double>(kept));
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // In-flight work holds its own reference; memory goes when it finishes.
    state_.reset();
    return info.Env().Undefined();
  }
};

// ---------------------------------------------------------------------------------------------
// readGgufInfo(path) -> Promise<{ version, alignment, dataOffset, fileSize, metadata, tensors }>:
// the header, metadata and tensor table of a GGUF file, without touching tensor data.

Napi::Value GgufValueToJs(Napi::Env env, const hb::GgufValue& v) {
  using T = hb::GgufValueType;
  auto number_of = [&](T t, double f, int64_t i, uint64_t u) -> Napi::Value {
    // 64-bit integers beyond 2^53 become BigInt so nothing is silently rounded.
    if (t == T::UINT64 && u > (uint64_t(1) << 53)) return Napi::BigInt::New(env, u);
    if (t == T::INT64 && (i > (int64_t(1) << 53) || i < -(int64_t(1) << 53))) return Napi::BigInt::New(env, i);
    return Napi::Number::New(env, f);
  };
  switch (v.type) {
    case T::STRING: return Napi::String::New(env, v.s);
    case T::BOOL: return Napi::Boolean::New(env, v.b);
    case T::FLOAT32: case T::FLOAT64: return Napi::Number::New(env, v.f);
    case T::ARRAY: {
      Napi::Array a = Napi::Array::New(env, v.array_size());
      if (v.array_type == T::STRING) {
        for (size_t i = 0; i < v.strs.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, v.strs[i]));
      } else if (v.array_type == T::BOOL) {
        for (size_t i = 0; i < v.nums.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Boolean::New(env, v.nums[i] != 0));
      } else {
        for (size_t i = 0; i < v.nums.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, v.nums[i]));
      }
      return a;
    }
    default: return number_of(v.type, v.f, v.i, v.u);
  }
}

class GgufInfoWorker : public Napi::AsyncWorker {
 public:
  GgufInfoWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    // vocab_only: tensor data past the end is reported per tensor, not fatal, for inspection.
    err_.Run([&] { gguf_ = hb::GgufFile::open(path_, /*vocab_only=*/true); });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_.set) {
      deferred_.Reject(MakeError(env, err_.code, err_.message).Value());
      return;
    }
    try {
      const hb::GgufFile& g = *gguf_;
      Napi::Object o = Napi::Object::New(env);
      o.Set("version", Napi::Number::New(env, g.version));
      o.Set("alignment", Napi::Number::New(env, static_cast<double>(g.alignment)));
      o.Set("dataOffset", Napi::Number::New(env, static_cast<double>(g.data_offset)));
      o.Set("fileSize", Napi::Number::New(env, static_cast<double>(g.file_size())));
      Napi::Object meta = Napi::Object::New(env);
      Napi::Object meta_types = Napi::Object::New(env);
      for (const auto& kv : g.metadata) {
        meta.Set(kv.first, GgufValueToJs(env, kv.second));
        std::string t = hb::gguf_value_type_name(kv.second.type);
        if (kv.second.is_array()) t += std::string("[") + hb::gguf_value_type_name(kv.second.array_type) + "]";
        meta_types.Set(kv.first, t);
      }
      o.Set("metadata", meta);
      o.Set("metadataTypes", meta_types);
      Napi::Array tensors = Napi::Array::New(env, g.tensors.size());
      for (size_t i = 0; i < g.tensors.size(); i++) {
        const hb::GgufTensor& t = g.tensors[i];
        Napi::Object to = Napi::Object::New(env);
        to.Set("name", t.name);
        const char* type_name = hb::ggml_type_info(t.type_id).name;
        to.Set("type", type_name ? type_name : "?");
        Napi::Array shape = Napi::Array::New(env, t.n_dims);
        for (uint32_t d = 0; d < t.n_dims; d++) shape.Set(d, Napi::Number::New(env, static_cast<double>(t.ne[d])));
        to.Set("shape", shape);
        to.Set("offset", Napi::Number::New(env, static_cast<double>(g.data_offset + t.offset)));
        to.Set("bytes", Napi::Number::New(env, static_cast<double>(t.nbytes)));
        to.Set("inFile", Napi::Boolean::New(env, t.data != nullptr));
        tensors.Set(static_cast<uint32_t>(i), to);
      }
      o.Set("tensors", tensors);
      deferred_.Resolve(o);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::unique_ptr<hb::GgufFile> gguf_;
  WorkerError err_;
};

Napi::Value ReadGgufInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for path");
  auto* w = new GgufInfoWorker(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---------------------------------------------------------------------------------------------
// Module-level functions

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const hb::CpuFeatures& f = hb::cpu_features();
    Napi::Object o = Napi::Object::New(env);
    Napi::Object feats = Napi::Object::New(env);
    feats.Set("avx2", f.avx2);
    feats.Set("fma", f.fma);
    feats.Set("f16c", f.f16c);
    feats.Set("avx512f", f.avx512f);
    feats.Set("avx512bw", f.avx512bw);
    feats.Set("avx512vnni", f.avx512vnni);
    feats.Set("amxtile", f.amx_tile);
    feats.Set("amxint8", f.amx_int8);
    feats.Set("neon", f.neon);
    feats.Set("dotprod", f.dotprod);
    o.Set("features", feats);
    Napi::Array isas = Napi::Array::New(env);
    auto avail = hb::available_isas();
    for (size_t i = 0; i < avail.size(); i++) isas.Set(static_cast<uint32_t>(i), hb::isa_name(avail[i]));
    o.Set("availableIsas", isas);
    o.Set("activeIsa", hb::isa_name(hb::active_isa()));
    return o;
  });
}

// measureReadBandwidth(threads, bytes, passes) -> Promise<{ medianGBps, bestGBps, threads, bytes, passes }>.
// Arguments are validated in lib/cpu.ts; the core checks them again (typed errors).
class ReadBandwidthWorker : public Napi::AsyncWorker {
 public:
  ReadBandwidthWorker(Napi::Env env, int threads, double bytes, int passes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), threads_(threads), bytes_(bytes), passes_(passes) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    err_.Run([&] {
      if (!(bytes_ >= 0 && bytes_ <= 9.0e15)) hb::fail("INVALID_ARGUMENT", "Expected a byte count for bytes");
      const int threads = threads_ == 0 ? hb::ThreadPool::default_threads() : threads_;  // 0: as load()
      result_ = hb::measure_read_bandwidth(threads, static_cast<size_t>(bytes_), passes_);
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_.set) {
      deferred_.Reject(err_.ToError(env).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("medianGBps", result_.median_gbps);
    o.Set("bestGBps", result_.best_gbps);
    o.Set("threads", result_.threads);
    o.Set("bytes", static_cast<double>(result_.bytes));
    o.Set("passes", result_.passes);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int threads_;
  double bytes_;
  int passes_;
  hb::ReadBandwidth result_{};
  WorkerError err_;
};

Napi::Value MeasureReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    Throw(env, "INVALID_ARGUMENT", "Expected (threads, bytes, passes) numbers for measureReadBandwidth");
  auto* w = new ReadBandwidthWorker(env, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().DoubleValue(),
                                    info[2].As<Napi::Number>().Int32Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for isa");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  hb::Isa isa;
  if (!hb::parse_isa(name, &isa)) {
    std::string names;
    for (hb::Isa known : hb::all_isas()) names += (names.empty() ? "" : ", ") + std::string(hb::isa_name(known));
    Throw(env, "INVALID_ARGUMENT", "Expected one of " + names + " for isa but received " + name);
  }
  if (!hb::set_active_isa(isa)) Throw(env, "UNSUPPORTED_ISA", "This CPU cannot run " + name + " kernels");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->abort_ctor = Napi::Persistent(AbortFlag::Init(env));
  data->model_ctor = Napi::Persistent(ModelHandle::Init(env));
  data->sampler_ctor = Napi::Persistent(SamplerHandle::Init(env));
  data->grammar_ctor = Napi::Persistent(GrammarHandle::Init(env));
  env.SetInstanceData(data);
  exports.Set("AbortFlag", data->abort_ctor.Value());
  exports.Set("ModelHandle", data->model_ctor.Value());
  exports.Set("SamplerHandle", data->sampler_ctor.Value());
  exports.Set("GrammarHandle", data->grammar_ctor.Value());
  exports.Set("ContextHandle", ContextHandle::Init(env));
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("readGgufInfo", Napi::Function::New(env, ReadGgufInfo));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("measureReadBandwidth", Napi::Function::New(env, MeasureReadBandwidth));
  RegisterQuantize(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(halfbyte, Init)
