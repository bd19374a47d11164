// LiteRT logs its accelerator registry to stderr and MNN its CPU features to stdout when they
// load: the programs' own output stays readable by silencing both while a model loads (and runs
// for the first time). HOURGLASS_VERBOSE=1 (as for the Python side) keeps the runtimes' messages.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

namespace hourglass {

class QuietNativeOutput {
 public:
  QuietNativeOutput() {
    const char* keep = std::getenv("HOURGLASS_VERBOSE");
    if (keep != nullptr && *keep != '\0' && *keep != '0') return;
    std::fflush(stdout);
    std::fflush(stderr);
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0) return;
    saved_out_ = dup(1);
    saved_err_ = dup(2);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    close(null_fd);
  }
  ~QuietNativeOutput() {
    if (saved_out_ < 0) return;
    std::fflush(stdout);
    std::fflush(stderr);
    dup2(saved_out_, 1);
    dup2(saved_err_, 2);
    close(saved_out_);
    close(saved_err_);
  }
  QuietNativeOutput(const QuietNativeOutput&) = delete;
  QuietNativeOutput& operator=(const QuietNativeOutput&) = delete;

 private:
  int saved_out_ = -1, saved_err_ = -1;
};

}  // namespace hourglass
