#include "common/result.h"

#include <cstring>

namespace sw {

Error Error::FromErrno(int err, std::string what) {
  return Error{err, std::move(what) + ": " + std::strerror(err)};
}

}  // namespace sw
