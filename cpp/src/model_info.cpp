#include "model_info.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "errors.hpp"

namespace hourglass {

const char* const kMetadataKey = "hourglass_metadata";

namespace {

using nlohmann::json;

const json& Field(const json& parent, const char* key, const std::string& where,
                  const std::string& origin) {
  if (!parent.is_object() || !parent.contains(key)) {
    throw UserError(origin + ": the export metadata has no " + where + key +
                    " (export the model again with export.py)");
  }
  return parent.at(key);
}

Quantization ReadQuantization(const json& entry) {
  Quantization q;
  if (entry.contains("quantization") && entry.at("quantization").is_array()) {
    q.on = true;
    q.scale = entry.at("quantization").at(0).get<float>();
    q.zero_point = entry.at("quantization").at(1).get<float>();
  }
  return q;
}

}  // namespace

ModelInfo ParseModelInfo(const std::string& json_text, const std::string& origin) {
  json meta;
  try {
    meta = json::parse(json_text);
  } catch (const json::exception& e) {
    throw UserError(origin + ": the export metadata is not valid JSON (" + e.what() + ")");
  }
  ModelInfo info;
  try {
    const std::string format = meta.value("format", "");
    if (format.rfind("hourglass-export/", 0) != 0) {
      throw UserError(origin + ": the metadata is not an hourglass export's (format \"" +
                      format + "\")");
    }
    info.format_name = meta.value("format_name", "");
    const json& keypoints = Field(meta, "keypoints", "", origin);
    for (const auto& name : Field(keypoints, "names", "keypoints.", origin)) {
      info.names.push_back(name.get<std::string>());
    }
    std::map<std::string, int> index;
    for (int k = 0; k < info.num_keypoints(); ++k) index[info.names[k]] = k;
    if (keypoints.contains("skeleton") && keypoints.at("skeleton").is_array()) {
      for (const auto& edge : keypoints.at("skeleton")) {
        SkeletonEdge e{index.at(edge.at(0).get<std::string>()),
                       index.at(edge.at(1).get<std::string>()), {255, 255, 0}};
        for (int c = 0; c < 3; ++c) e.rgb[c] = edge.at(2).at(c).get<unsigned char>();
        info.skeleton.push_back(e);
      }
    }
    const json& codec = Field(meta, "codec", "", origin);
    const json& input_size = Field(codec, "input_size", "codec.", origin);
    info.input_height = input_size.at(0).get<int>();
    info.input_width = input_size.at(1).get<int>();
    info.stride = codec.value("stride", 4);
    info.sigma = codec.value("sigma", 2.0f);
    const json& input = Field(meta, "input", "", origin);
    info.nchw = Field(input, "layout", "input.", origin).get<std::string>() == "NCHW";
    info.input_uint8 = input.value("dtype", "float32") == "uint8";
    info.input_quantization = ReadQuantization(input);
    for (const auto& output : Field(meta, "outputs", "", origin)) {
      info.output_names.push_back(output.at("name").get<std::string>());
      if (info.output_names.back() == "heatmaps") {
        info.heatmap_quantization = ReadQuantization(output);
      }
    }
    if (meta.contains("decoder") && meta.at("decoder").is_string()) {
      info.decoder = meta.at("decoder").get<std::string>();
    }
    if (meta.contains("crop") && meta.at("crop").is_object()) {
      info.box_margin = meta.at("crop").value("box_margin", info.box_margin);
    }
  } catch (const json::exception& e) {
    throw UserError(origin + ": malformed export metadata (" + e.what() + ")");
  } catch (const std::out_of_range&) {
    throw UserError(origin + ": the export metadata's skeleton names a keypoint it does not "
                    "list");
  }
  if (info.names.empty()) throw UserError(origin + ": the export metadata lists no keypoints");
  if (info.input_height <= 0 || info.input_width <= 0 || info.stride <= 0 ||
      info.input_height % info.stride || info.input_width % info.stride || !(info.sigma > 0)) {
    throw UserError(origin + ": the export metadata's codec is out of range");
  }
  if (info.input_uint8 && !info.input_quantization.on) {
    throw UserError(origin + ": a uint8 input without quantization in the export metadata");
  }
  if (!(info.box_margin > 0)) {
    throw UserError(origin + ": the export metadata's crop.box_margin must be > 0");
  }
  return info;
}

std::string ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot read " + what);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace hourglass
