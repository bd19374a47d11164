// One kind of error for everything a user can get wrong (files, flags, metadata): the programs
// print its message as one line and exit non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace hourglass {

struct UserError : std::runtime_error {
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace hourglass
