// Shared helpers of the N-API files: core exceptions become JS errors carrying a `code` (lib/
// wraps them into HalfbyteError), on the JS thread (Guard) or captured on a worker thread for
// rejection later (WorkerError). Header-only; only native/addon/ includes it.
#pragma once
#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "../core/error.h"

namespace hbnapi {

inline Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("name", Napi::String::New(env, "HalfbyteError"));
  return err;
}

[[noreturn]] inline void Throw(Napi::Env env, const std::string& code, const std::string& message) {
  throw MakeError(env, code, message);
}

// Runs fn on the JS thread, converting core exceptions into JS errors with codes.
template <typename Fn>
auto Guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const hb::Error& e) {
    throw MakeError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw MakeError(env, "OUT_OF_MEMORY", "Out of memory");
  } catch (const std::exception& e) {
    throw MakeError(env, "INTERNAL", e.what());
  } catch (...) {
    throw MakeError(env, "INTERNAL", "Unknown native error");
  }
}

// Captures a core exception on a worker thread for rejection on the JS thread.
struct WorkerError {
  std::string code, message;
  bool set = false;
  template <typename Fn>
  void Run(Fn&& fn) {
    try {
      fn();
    } catch (const hb::Error& e) {
      code = e.code(), message = e.what(), set = true;
    } catch (const std::bad_alloc&) {
      code = "OUT_OF_MEMORY", message = "Out of memory", set = true;
    } catch (const std::exception& e) {
      code = "INTERNAL", message = e.what(), set = true;
    } catch (...) {
      code = "INTERNAL", message = "Unknown native error", set = true;
    }
  }
  Napi::Error ToError(Napi::Env env) const { return MakeError(env, code, message); }
};

}  // namespace hbnapi
