// Typed errors of the core. The core throws hb::Error; only native/addon/ turns it into a JS
// HalfbyteError (with the same code), and the addon catches everything so nothing escapes.
#pragma once
#include <stdexcept>
#include <string>

namespace hb {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw Error(code, message); }

}  // namespace hb
