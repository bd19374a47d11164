// What a program needs to know about an exported model, read from the metadata every export
// carries (hourglass/export/metadata.py: the TFLite metadata entry "hourglass_metadata", the
// .mnn file's "<file>.json" sidecar), so that no flag has to repeat it.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace hourglass {

struct Quantization {
  bool on = false;
  float scale = 1.0f;
  float zero_point = 0.0f;
};

struct SkeletonEdge {
  int from, to;
  std::array<unsigned char, 3> rgb;
};

struct ModelInfo {
  std::string format_name;            // e.g. "tflite_uint8"
  std::vector<std::string> names;     // K keypoint names
  std::vector<SkeletonEdge> skeleton;
  int input_height = 0, input_width = 0;
  bool nchw = false;                  // input [1, 3, H, W] and heatmaps [1, K, h, w]
  bool input_uint8 = false;
  Quantization input_quantization;    // uint8 = round(x / scale + zero_point), x in 0..255
  Quantization heatmap_quantization;  // float = (q - zero_point) * scale
  int stride = 4;                     // input px per heatmap px
  float sigma = 2.0f;                 // heatmap Gaussian sigma (DARK's blur)
  std::string decoder;                // in-graph decoder ("dark", "quarter") or "" for none
  double box_margin = 1.25;           // boxes are enlarged by it about their centre
  std::vector<std::string> output_names;

  int num_keypoints() const { return static_cast<int>(names.size()); }
  int heatmap_height() const { return input_height / stride; }
  int heatmap_width() const { return input_width / stride; }
};

// The key of the metadata entry in a .tflite file (hourglass/model/metadata.py METADATA_KEY).
extern const char* const kMetadataKey;

// Parses the metadata JSON text; `origin` names the file in errors. Throws UserError for
// anything missing or malformed.
ModelInfo ParseModelInfo(const std::string& json_text, const std::string& origin);

// Reads a whole file as bytes (UserError naming it when it cannot be read).
std::string ReadFile(const std::string& path, const std::string& what);

}  // namespace hourglass
