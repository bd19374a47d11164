// The one thing that differs between the LiteRT and MNN programs: loading an exported file and
// running it. Each program's runtime file implements LoadRuntime; everything else is shared.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "model_info.hpp"

namespace hourglass {

struct OutputView {
  const void* data = nullptr;
  size_t count = 0;     // elements
  bool uint8 = false;   // else float32
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  // The file's export metadata.
  virtual const ModelInfo& info() const = 0;
  // The input of one image, [1, H, W, 3] (NHWC) or [1, 3, H, W] (NCHW) in the file's dtype
  // (float32, or uint8 for a quantized input): the caller fills it before Run.
  virtual void* input() = 0;
  virtual void Run() = 0;
  // An output of the last run by its metadata name ("heatmaps", "keypoints", "scores"); throws
  // UserError when the file has no such output.
  virtual OutputView Output(const std::string& name) = 0;
  // The runtime and its version, for the report.
  virtual std::string name() const = 0;
};

// Loads an exported model (an existing file) for `threads` CPU threads; throws UserError naming
// the file when it is not a model of this runtime or lacks the export metadata. Called by the
// shared program, which checks the file exists and silences the runtime while it loads.
std::unique_ptr<Runtime> LoadRuntime(const std::string& model_path, int threads);

// The whole program (flags, image, crop, run, decode, outputs); returns the exit status.
int RunProgram(int argc, char** argv, const std::string& program, const std::string& suffix);

}  // namespace hourglass
