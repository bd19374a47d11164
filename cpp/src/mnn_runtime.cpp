// hourglass_mnn: the program on MNN's C++ Interpreter/Session API (libMNN built from MNN's
// sources). An exported .mnn has no free-form field: its metadata is the "<file>.json" sidecar.
// Models converted from ONNX take their tensors with the dimensions written in the ONNX graph,
// which MNN tags NCHW whatever their order: host tensors in that (Caffe) order copy them as is.
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <MNN/Interpreter.hpp>
#include <MNN/MNNDefine.h>
#include <MNN/Tensor.hpp>

#include "errors.hpp"
#include "model_info.hpp"
#include "quiet_output.hpp"
#include "runtime.hpp"

namespace hourglass {

namespace {

class MnnRuntime : public Runtime {
 public:
  MnnRuntime(const std::string& path, int threads) : path_(path) {
    net_.reset(MNN::Interpreter::createFromFile(path.c_str()));
    if (!net_) throw UserError(path + ": not a loadable MNN model");
    const std::string sidecar = path + ".json";
    info_ = ParseModelInfo(ReadFile(sidecar, "the model's metadata sidecar (export.py writes "
                                        "it beside every .mnn)"), sidecar);
    if (info_.input_uint8) throw UserError(sidecar + ": MNN files take float input");
    MNN::ScheduleConfig config;
    config.type = MNN_FORWARD_CPU;
    config.numThread = threads;
    MNN::BackendConfig backend;
    backend.precision = MNN::BackendConfig::Precision_High;  // as the Python predictor
    config.backendConfig = &backend;
    session_ = net_->createSession(config);
    if (session_ == nullptr) throw UserError(path + ": MNN could not create a session");
    MNN::Tensor* input = net_->getSessionInput(session_, nullptr);
    if (input == nullptr || input->dimensions() != 4) {
      throw UserError(path + ": the model's input is not [B, H, W, 3]");
    }
    input_shape_ = {1, info_.nchw ? 3 : info_.input_height,
                    info_.nchw ? info_.input_height : info_.input_width,
                    info_.nchw ? info_.input_width : 3};
    net_->resizeTensor(input, input_shape_);
    net_->resizeSession(session_);
    host_input_.reset(new MNN::Tensor(input, MNN::Tensor::CAFFE));
    for (int d = 1; d < 4; ++d) {
      if (host_input_->length(d) != input_shape_[d]) {
        throw UserError(path + ": the input's shape does not match its metadata");
      }
    }
    for (const auto& entry : net_->getSessionOutputAll(session_)) {
      host_outputs_[entry.first].reset(new MNN::Tensor(entry.second, MNN::Tensor::CAFFE));
    }
  }

  ~MnnRuntime() override {
    host_input_.reset();
    host_outputs_.clear();
    if (net_ && session_) net_->releaseSession(session_);
  }

  const ModelInfo& info() const override { return info_; }
  void* input() override { return host_input_->host<float>(); }

  void Run() override {
    net_->getSessionInput(session_, nullptr)->copyFromHostTensor(host_input_.get());
    if (net_->runSession(session_) != MNN::NO_ERROR) {
      throw UserError(path_ + ": MNN could not run the model");
    }
    for (const auto& entry : net_->getSessionOutputAll(session_)) {
      entry.second->copyToHostTensor(host_outputs_.at(entry.first).get());
    }
  }

  OutputView Output(const std::string& name) override {
    auto it = host_outputs_.find(name);
    if (it == host_outputs_.end() && host_outputs_.size() == 1 && name == "heatmaps") {
      it = host_outputs_.begin();  // a single output is the heatmaps whatever its name
    }
    if (it == host_outputs_.end()) {
      throw UserError(path_ + ": the model has no output \"" + name + "\"");
    }
    return {it->second->host<float>(), static_cast<size_t>(it->second->elementSize()), false};
  }

  std::string name() const override { return std::string("MNN ") + MNN::getVersion() + ", CPU"; }

 private:
  std::string path_;
  ModelInfo info_;
  std::unique_ptr<MNN::Interpreter> net_;
  MNN::Session* session_ = nullptr;
  std::vector<int> input_shape_;
  std::unique_ptr<MNN::Tensor> host_input_;
  std::map<std::string, std::unique_ptr<MNN::Tensor>> host_outputs_;
};

}  // namespace

std::unique_ptr<Runtime> LoadRuntime(const std::string& model_path, int threads) {
  return std::make_unique<MnnRuntime>(model_path, threads);
}

}  // namespace hourglass

int main(int argc, char** argv) {
  return hourglass::RunProgram(argc, argv, "hourglass_mnn", ".mnn");
}
