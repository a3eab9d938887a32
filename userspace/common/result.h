// Recoverable errors as values: Result<T> holds either a T or an Error that carries errno and a
// message saying what failed, on which path or cgroup, and what the user can do. Exceptions are
// reserved for fatal start-up errors, caught in main.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace sw {

struct Error {
  int code = 0;  // errno value, 0 when not from a syscall
  std::string message;

  // "open /sys/fs/cgroup/cpu/x/cpu.stat: No such file or directory"
  static Error FromErrno(int err, std::string what);
  Error WithContext(const std::string& context) const {
    return Error{code, context + ": " + message};
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  T value_or(T fallback) const { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return Result<void>(); }

}  // namespace sw
