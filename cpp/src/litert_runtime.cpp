// hourglass_litert: the program on LiteRT's C API (libLiteRt.so of the ai-edge-litert wheel).
// An exported .tflite carries its metadata under the key "hourglass_metadata"; its batch
// dimension may be dynamic (-1) and is resized to 1 before the buffers are sized.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "errors.hpp"
#include "model_info.hpp"
#include "quiet_output.hpp"
#include "runtime.hpp"

extern "C" {
#include "litert/c/litert_common.h"
#include "litert/c/litert_compiled_model.h"
#include "litert/c/litert_environment.h"
#include "litert/c/litert_model.h"
#include "litert/c/litert_opaque_options.h"
#include "litert/c/litert_options.h"
#include "litert/c/litert_tensor_buffer.h"
}

namespace hourglass {

namespace {

void Check(LiteRtStatus status, const std::string& path, const std::string& what) {
  if (status != kLiteRtStatusOk) {
    throw UserError(path + ": LiteRT could not " + what + " (status " +
                    std::to_string(static_cast<int>(status)) + ")");
  }
}

size_t ElementBytes(LiteRtElementType type) {
  switch (type) {
    case kLiteRtElementTypeFloat32: return 4;
    case kLiteRtElementTypeUInt8:
    case kLiteRtElementTypeInt8: return 1;
    default: return 0;
  }
}

struct HostBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  size_t count = 0;
  bool uint8 = false;
  LiteRtTensorBuffer buffer = nullptr;
};

class LiteRtRuntime : public Runtime {
 public:
  LiteRtRuntime(const std::string& path, int threads) : path_(path) {
    try {
      Load(threads);
    } catch (...) {
      Release();
      throw;
    }
  }

  ~LiteRtRuntime() override { Release(); }

  const ModelInfo& info() const override { return info_; }
  void* input() override { return input_.data; }

  void Run() override {
    std::vector<LiteRtTensorBuffer> out;
    for (auto& b : outputs_) out.push_back(b.buffer);
    std::unique_ptr<QuietNativeOutput> quiet(ran_ ? nullptr : new QuietNativeOutput);
    ran_ = true;
    Check(LiteRtRunCompiledModel(compiled_, 0, 1, &input_.buffer, out.size(), out.data()), path_,
          "run the model");
  }

  OutputView Output(const std::string& name) override {
    for (size_t i = 0; i < output_names_.size(); ++i) {
      if (output_names_[i] == name) return {outputs_[i].data, outputs_[i].count, outputs_[i].uint8};
    }
    throw UserError(path_ + ": the model has no output \"" + name + "\"");
  }

  std::string name() const override { return "LiteRT C API, CPU"; }

 private:
  void Load(int threads) {
    const std::string& path = path_;
    Check(LiteRtCreateEnvironment(0, nullptr, &environment_), path, "create its environment");
    if (LiteRtCreateModelFromFile(environment_, path.c_str(), &model_) != kLiteRtStatusOk) {
      throw UserError(path + ": not a loadable LiteRT (.tflite) model");
    }
    const void* meta = nullptr;
    size_t meta_size = 0;
    if (LiteRtGetModelMetadata(model_, kMetadataKey, &meta, &meta_size) != kLiteRtStatusOk ||
        meta == nullptr) {
      throw UserError(path + ": no \"" + std::string(kMetadataKey) + "\" metadata entry; export "
                      "the model with export.py, which writes it");
    }
    info_ = ParseModelInfo(std::string(static_cast<const char*>(meta), meta_size), path);

    LiteRtOptions options = nullptr;
    Check(LiteRtCreateOptions(&options), path, "create its options");
    Check(LiteRtSetOptionsHardwareAccelerators(options, kLiteRtHwAcceleratorCpu), path,
          "select the CPU");
    // The CPU accelerator (XNNPACK) reads its settings as TOML under the identifier "xnnpack"
    // (LiteRT's litert/c/options/litert_cpu_options.cc, not exported by the wheel's library).
    char* toml = strdup(("num_threads = " + std::to_string(threads) + "\n").c_str());
    LiteRtOpaqueOptions cpu = nullptr;
    Check(LiteRtCreateOpaqueOptions("xnnpack", toml, [](void* p) { std::free(p); }, &cpu), path,
          "set its thread count");
    Check(LiteRtAddOpaqueOptions(options, cpu), path, "set its thread count");
    const LiteRtStatus compiled =
        LiteRtCreateCompiledModel(environment_, model_, options, &compiled_);
    LiteRtDestroyOptions(options);
    Check(compiled, path, "compile the model for the CPU");

    LiteRtSignature signature = nullptr;
    Check(LiteRtGetModelSignature(model_, 0, &signature), path, "read its signature");
    LiteRtParamIndex num_inputs = 0, num_outputs = 0;
    Check(LiteRtGetNumSignatureInputs(signature, &num_inputs), path, "read its inputs");
    Check(LiteRtGetNumSignatureOutputs(signature, &num_outputs), path, "read its outputs");
    if (num_inputs != 1) throw UserError(path + ": expected one input, the file has " +
                                         std::to_string(num_inputs));
    // One image: the exported files' batch dimension is dynamic (-1) or 1.
    const int dims[4] = {1, info_.nchw ? 3 : info_.input_height,
                         info_.nchw ? info_.input_height : info_.input_width,
                         info_.nchw ? info_.input_width : 3};
    LiteRtTensor input_tensor = nullptr;
    LiteRtRankedTensorType input_type;
    Check(LiteRtGetSignatureInputTensorByIndex(signature, 0, &input_tensor), path,
          "read its input");
    Check(LiteRtGetRankedTensorType(input_tensor, &input_type), path, "read its input type");
    if (input_type.layout.rank != 4) throw UserError(path + ": the input is not [B, H, W, 3]");
    for (int d = 1; d < 4; ++d) {
      if (input_type.layout.dimensions[d] != dims[d]) {
        throw UserError(path + ": the input's shape does not match its metadata");
      }
    }
    if (input_type.layout.dimensions[0] != 1) {
      Check(LiteRtCompiledModelResizeInputTensor(compiled_, 0, 0, dims, 4), path,
            "resize its input to one image");
    }
    LiteRtLayout input_layout;
    Check(LiteRtGetCompiledModelInputTensorLayout(compiled_, 0, 0, &input_layout), path,
          "read its input layout");
    input_type.layout = input_layout;
    input_ = MakeBuffer(input_type);
    if (input_.uint8 != info_.input_uint8) {
      throw UserError(path + ": the input's type does not match its metadata");
    }

    std::vector<LiteRtLayout> layouts(num_outputs);
    Check(LiteRtGetCompiledModelOutputTensorLayouts(compiled_, 0, num_outputs, layouts.data(),
                                                    true),
          path, "size its outputs");
    for (LiteRtParamIndex i = 0; i < num_outputs; ++i) {
      const char* name = nullptr;
      LiteRtTensor tensor = nullptr;
      LiteRtRankedTensorType type;
      Check(LiteRtGetSignatureOutputName(signature, i, &name), path, "read its output names");
      Check(LiteRtGetSignatureOutputTensorByIndex(signature, i, &tensor), path, "read its outputs");
      Check(LiteRtGetRankedTensorType(tensor, &type), path, "read its output types");
      type.layout = layouts[i];
      output_names_.push_back(name);
      outputs_.push_back(MakeBuffer(type));
    }
  }

  void Release() {
    QuietNativeOutput quiet;  // LiteRT logs the accelerator's destruction
    Free(&input_);
    for (auto& b : outputs_) Free(&b);
    outputs_.clear();
    if (compiled_) LiteRtDestroyCompiledModel(compiled_);
    if (model_) LiteRtDestroyModel(model_);
    if (environment_) LiteRtDestroyEnvironment(environment_);
    compiled_ = nullptr;
    model_ = nullptr;
    environment_ = nullptr;
  }

  HostBuffer MakeBuffer(const LiteRtRankedTensorType& type) {
    HostBuffer b;
    const size_t element = ElementBytes(type.element_type);
    if (element == 0) throw UserError(path_ + ": a tensor of an unsupported type");
    b.uint8 = element == 1;
    b.count = 1;
    for (unsigned d = 0; d < type.layout.rank; ++d) {
      b.count *= static_cast<size_t>(type.layout.dimensions[d]);
    }
    b.bytes = b.count * element;
    const size_t padded = (b.bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of 64
    b.data = std::aligned_alloc(64, padded);
    if (b.data == nullptr) throw UserError(path_ + ": out of memory");
    std::memset(b.data, 0, padded);
    Check(LiteRtCreateTensorBufferFromHostMemory(&type, b.data, b.bytes, nullptr, &b.buffer), path_,
          "create a tensor buffer");
    return b;
  }

  static void Free(HostBuffer* b) {
    if (b->buffer) LiteRtDestroyTensorBuffer(b->buffer);
    std::free(b->data);
    *b = HostBuffer();
  }

  std::string path_;
  bool ran_ = false;
  LiteRtEnvironment environment_ = nullptr;
  LiteRtModel model_ = nullptr;
  LiteRtCompiledModel compiled_ = nullptr;
  ModelInfo info_;
  HostBuffer input_;
  std::vector<std::string> output_names_;
  std::vector<HostBuffer> outputs_;
};

}  // namespace

std::unique_ptr<Runtime> LoadRuntime(const std::string& model_path, int threads) {
  return std::make_unique<LiteRtRuntime>(model_path, threads);
}

}  // namespace hourglass

int main(int argc, char** argv) {
  return hourglass::RunProgram(argc, argv, "hourglass_litert", ".tflite");
}
