// N-API binding of the quantizer: validates what could crash the process, runs the whole
// quantization on a worker thread (the core splits the math over its own thread pool), streams
// progress back to the JS thread and rejects with a coded error. Nothing thrown here escapes.
#include "quantize_binding.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "../core/quantize.h"
#include "napi_util.h"

namespace {

using hbnapi::Guard;
using hbnapi::MakeError;
using hbnapi::Throw;

struct QuantizeEvent {
  std::string tensor;
  double index = 0, count = 0, bytes_done = 0, bytes_total = 0;
};

class QuantizeWorker : public Napi::AsyncProgressQueueWorker<QuantizeEvent> {
 public:
  QuantizeWorker(Napi::Env env, std::string in_path, std::string out_path, hb::QuantizeOptions options,
                 Napi::Function on_progress, std::shared_ptr<std::atomic<bool>> abort)
      : Napi::AsyncProgressQueueWorker<QuantizeEvent>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        in_path_(std::move(in_path)),
        out_path_(std::move(out_path)),
        options_(std::move(options)),
        abort_(std::move(abort)) {
    if (!on_progress.IsEmpty()) progress_cb_ = Napi::Persistent(on_progress);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    err_.Run([&] {
      if (abort_->load()) hb::fail("ABORTED", "Quantization was aborted");
      hb::QuantizeOptions opts = options_;
      // One event per tensor, and within a big tensor at most every 100 ms.
      size_t last_index = SIZE_MAX;
      auto last_time = std::chrono::steady_clock::now();
      const bool wants_progress = !progress_cb_.IsEmpty();
      opts.progress = [&](const hb::QuantizeProgress& p) {
        if (wants_progress) {
          const auto now = std::chrono::steady_clock::now();
          if (p.index != last_index || p.bytes_done == p.bytes_total || now - last_time >= std::chrono::milliseconds(100)) {
            QuantizeEvent ev;
            ev.tensor = *p.tensor;
            ev.index = static_cast<double>(p.index);
            ev.count = static_cast<double>(p.count);
            ev.bytes_done = static_cast<double>(p.bytes_done);
            ev.bytes_total = static_cast<double>(p.bytes_total);
            progress.Send(&ev, 1);
            last_index = p.index;
            last_time = now;
          }
        }
        return !abort_->load();
      };
      result_ = hb::quantize_file(in_path_, out_path_, opts);
    });
  }

  void OnProgress(const QuantizeEvent* data, size_t count) override {
    if (progress_cb_.IsEmpty() || count == 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      for (size_t i = 0; i < count; i++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tensor", Napi::String::New(env, data[i].tensor));
        o.Set("index", Napi::Number::New(env, data[i].index));
        o.Set("count", Napi::Number::New(env, data[i].count));
        o.Set("bytesDone", Napi::Number::New(env, data[i].bytes_done));
        o.Set("bytesTotal", Napi::Number::New(env, data[i].bytes_total));
        progress_cb_.Call({o});
      }
    } catch (...) {
      // A throwing progress listener must not break quantization.
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_.set) {
      deferred_.Reject(err_.ToError(env).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("tensors", Napi::Number::New(env, static_cast<double>(result_.tensors)));
    o.Set("inputBytes", Napi::Number::New(env, static_cast<double>(result_.input_bytes)));
    o.Set("outputBytes", Napi::Number::New(env, static_cast<double>(result_.output_bytes)));
    o.Set("seconds", Napi::Number::New(env, result_.seconds));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string in_path_, out_path_;
  hb::QuantizeOptions options_;
  std::shared_ptr<std::atomic<bool>> abort_;
  Napi::FunctionReference progress_cb_;
  hb::QuantizeResult result_;
  hbnapi::WorkerError err_;
};

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString() || info[i].As<Napi::String>().Utf8Value().empty())
    Throw(info.Env(), "INVALID_ARGUMENT", std::string("Expected a non-empty string for ") + what);
  return info[i].As<Napi::String>().Utf8Value();
}

bool BoolField(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) Throw(o.Env(), "INVALID_ARGUMENT", std::string("Expected a boolean for ") + key);
  return v.As<Napi::Boolean>().Value();
}

Napi::Value QuantizeModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    std::string in_path = StringArg(info, 0, "inPath");
    std::string out_path = StringArg(info, 1, "outPath");
    if (info.Length() <= 2 || !info[2].IsObject()) Throw(env, "INVALID_ARGUMENT", "Expected an options object");
    Napi::Object o = info[2].As<Napi::Object>();
    hb::QuantizeOptions opts;
    Napi::Value type = o.Get("type");
    if (!type.IsString()) Throw(env, "INVALID_ARGUMENT", "Expected a string for type");
    opts.preset = type.As<Napi::String>().Utf8Value();
    opts.pure = BoolField(o, "pure");
    opts.allow_requantize = BoolField(o, "allowRequantize");
    Napi::Value threads = o.Get("threads");
    if (!threads.IsUndefined()) {
      const double t = threads.IsNumber() ? threads.As<Napi::Number>().DoubleValue() : -1;
      if (!(t >= 0 && t <= 1024) || t != static_cast<double>(static_cast<int>(t)))
        Throw(env, "INVALID_ARGUMENT", "Expected an integer from 0 to 1024 for threads");
      opts.threads = static_cast<int>(t);
    }
    Napi::Function cb;
    if (info.Length() > 3 && info[3].IsFunction()) cb = info[3].As<Napi::Function>();

    auto abort = std::make_shared<std::atomic<bool>>(false);
    auto* worker = new QuantizeWorker(env, std::move(in_path), std::move(out_path), std::move(opts), cb, abort);
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", worker->Promise());
    handle.Set("abort", Napi::Function::New(
                            env,
                            [abort](const Napi::CallbackInfo& ci) -> Napi::Value {
                              abort->store(true);
                              return ci.Env().Undefined();
                            },
                            "abort"));
    worker->Queue();
    return handle;
  });
}

}  // namespace

void RegisterQuantize(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeModel", Napi::Function::New(env, QuantizeModel, "quantizeModel"));
}
