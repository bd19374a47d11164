// The program shared by hourglass_litert and hourglass_mnn: one image (or a raw model-input crop)
// in, the object's keypoints out, as `python main.py --mode=predict` gives them for a box
// (--detections) or the whole image letterboxed (--eval_box=letterbox).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "drawing.hpp"
#include "errors.hpp"
#include "geometry.hpp"
#include "heatmap_decoder.hpp"
#include "image_io.hpp"
#include "model_info.hpp"
#include "quiet_output.hpp"
#include "runtime.hpp"

namespace hourglass {

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const char* const kUsage =
    "usage: %s --model=FILE%s (--image=FILE [--box=x,y,w,h] | --raw_input=FILE)\n"
    "          [--output_dir=DIR] [--save_crop=FILE.png] [--threads=2] [--count=1]\n"
    "          [--warmup=1] [--conf_threshold=0]\n"
    "\n"
    "Finds the keypoints of one object: in --box (original px, enlarged by the model's box\n"
    "margin as in training) or in the whole image letterboxed to the model input. Prints them\n"
    "and the timings; writes <image stem>_keypoints.json and <image stem>_skeleton.png into\n"
    "--output_dir (default: the current folder). --raw_input feeds a float32 [H, W, 3] RGB\n"
    "0..255 model-input crop as is (keypoints in model-input px). --count timed runs after\n"
    "--warmup untimed ones; --threads CPU threads of the runtime. Everything about the model\n"
    "(names, input size, layout, quantization, decoder, box margin) comes from its metadata.\n";

struct Flags {
  std::string model, image, raw_input, output_dir = ".", save_crop;
  bool has_box = false;
  Box box{};
  int threads = 2, count = 1, warmup = 1;
  float conf_threshold = 0.0f;
};

int ParseInt(const std::string& name, const std::string& value, int low) {
  try {
    size_t used = 0;
    const int v = std::stoi(value, &used);
    if (used == value.size() && v >= low) return v;
  } catch (const std::exception&) {
  }
  throw UserError("--" + name + ": expected an integer >= " + std::to_string(low) + ", got \"" +
                  value + "\"");
}

double ParseDouble(const std::string& name, const std::string& value) {
  try {
    size_t used = 0;
    const double v = std::stod(value, &used);
    if (used == value.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw UserError("--" + name + ": expected a number, got \"" + value + "\"");
}

Flags ParseFlags(int argc, char** argv, bool* help) {
  Flags flags;
  *help = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      *help = true;
      return flags;
    }
    if (arg.rfind("--", 0) != 0) throw UserError("unexpected argument \"" + arg + "\"");
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UserError("--" + name + " needs a value");
    }
    if (name == "model") flags.model = value;
    else if (name == "image") flags.image = value;
    else if (name == "raw_input") flags.raw_input = value;
    else if (name == "output_dir") flags.output_dir = value;
    else if (name == "save_crop") flags.save_crop = value;
    else if (name == "threads") flags.threads = ParseInt(name, value, 1);
    else if (name == "count") flags.count = ParseInt(name, value, 1);
    else if (name == "warmup") flags.warmup = ParseInt(name, value, 0);
    else if (name == "conf_threshold")
      flags.conf_threshold = static_cast<float>(ParseDouble(name, value));
    else if (name == "box") {
      std::vector<double> v;
      std::stringstream parts(value);
      std::string part;
      while (std::getline(parts, part, ',')) v.push_back(ParseDouble(name, part));
      if (v.size() != 4) throw UserError("--box: expected x,y,w,h, got \"" + value + "\"");
      flags.box = {v[0], v[1], v[2], v[3]};
      flags.has_box = true;
    } else {
      throw UserError("unknown flag --" + name + " (--help lists the flags)");
    }
  }
  if (flags.model.empty()) throw UserError("--model is required (--help lists the flags)");
  if (flags.image.empty() == flags.raw_input.empty()) {
    throw UserError("give one of --image and --raw_input");
  }
  if (flags.has_box && flags.image.empty()) throw UserError("--box needs --image");
  return flags;
}

std::string Stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

// Fills the runtime's input from an RGB crop [H, W, 3] (uint8 or float 0..255): float32, or
// quantized (round half to even, as numpy) for a uint8 input; NHWC or NCHW.
template <typename T>
void FillInput(const ModelInfo& info, const T* __restrict crop, void* input) {
  const int plane = info.input_height * info.input_width;
  const Quantization& q = info.input_quantization;
  if (info.input_uint8) {
    uint8_t* __restrict out = static_cast<uint8_t*>(input);
    const float scale = q.scale, zero_point = q.zero_point;  // x / scale, as the Python side
    const bool nchw = info.nchw;
    for (int i = 0; i < plane; ++i) {
      for (int c = 0; c < 3; ++c) {
        const float v = RoundHalfEven(static_cast<float>(crop[i * 3 + c]) / scale + zero_point);
        out[nchw ? c * plane + i : i * 3 + c] =
            static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
      }
    }
  } else if (info.nchw) {
    float* out = static_cast<float*>(input);
    for (int i = 0; i < plane; ++i) {
      for (int c = 0; c < 3; ++c) out[c * plane + i] = static_cast<float>(crop[i * 3 + c]);
    }
  } else {
    float* __restrict out = static_cast<float*>(input);
    for (int i = 0; i < plane * 3; ++i) out[i] = static_cast<float>(crop[i]);
  }
}

// The heatmaps output as float [K, h, w] (dequantized, channels first).
void HeatmapsChannelsFirst(const ModelInfo& info, const OutputView& out, std::vector<float>* maps) {
  const int k_count = info.num_keypoints(), plane = info.heatmap_height() * info.heatmap_width();
  if (out.count != static_cast<size_t>(k_count) * plane) {
    throw UserError("the heatmaps output has " + std::to_string(out.count) +
                    " values; the metadata says " + std::to_string(k_count * plane));
  }
  maps->resize(out.count);
  const Quantization& q = info.heatmap_quantization;
  for (int i = 0; i < plane; ++i) {
    for (int k = 0; k < k_count; ++k) {
      const size_t from = info.nchw ? static_cast<size_t>(k) * plane + i
                                    : static_cast<size_t>(i) * k_count + k;
      float v = out.uint8 ? static_cast<float>(static_cast<const uint8_t*>(out.data)[from])
                          : static_cast<const float*>(out.data)[from];
      if (q.on) v = (v - q.zero_point) * q.scale;
      (*maps)[static_cast<size_t>(k) * plane + i] = v;
    }
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// What the model is fed: an image with its model-input -> image map, or a raw crop fed as is.
struct Source {
  Image image;             // empty for a raw input
  std::vector<float> raw;  // [H, W, 3] float RGB, or empty
  Affine to_image;         // model-input px -> image px (identity for a raw input)
  std::string rule;        // how the crop was cut, for the report
  double file_decoding_ms = 0;
};

Source LoadSource(const Flags& flags, const ModelInfo& info) {
  Source source;
  const int in_h = info.input_height, in_w = info.input_width;
  source.to_image.m[0] = {1, 0, 0};
  source.to_image.m[1] = {0, 1, 0};
  if (!flags.raw_input.empty()) {
    const std::string bytes = ReadFile(flags.raw_input, "the raw input");
    const size_t expected = static_cast<size_t>(in_h) * in_w * 3 * sizeof(float);
    if (bytes.size() != expected) {
      throw UserError(flags.raw_input + ": " + std::to_string(bytes.size()) + " bytes; the model "
                      "takes a float32 " + std::to_string(in_h) + "x" + std::to_string(in_w) +
                      "x3 crop (" + std::to_string(expected) + " bytes)");
    }
    source.raw.resize(expected / sizeof(float));
    std::memcpy(source.raw.data(), bytes.data(), expected);
    source.rule = "raw model input";
    return source;
  }
  const auto t0 = Clock::now();
  source.image = LoadRgb(flags.image);
  source.file_decoding_ms = Ms(t0, Clock::now());
  const Image& image = source.image;
  if (!flags.has_box) {
    source.to_image = LetterboxInputToImage(image.height, image.width, in_h, in_w);
    source.rule = "whole image, letterboxed";
    return source;
  }
  const Box& b = flags.box;
  if (b.w > 0 && b.h > 0 &&
      (b.x >= image.width || b.y >= image.height || b.x + b.w <= 0 || b.y + b.h <= 0)) {
    std::ostringstream message;
    message << "--box " << b.x << "," << b.y << "," << b.w << "," << b.h
            << " lies outside the image " << flags.image << " (" << image.width << "x"
            << image.height << ")";
    throw UserError(message.str());
  }
  source.to_image = InputToImage(b, in_h, in_w, info.box_margin);
  std::ostringstream rule;
  rule << "box enlarged x" << info.box_margin << " (the model's box margin)";
  source.rule = rule.str();
  return source;
}

// The keypoints (model-input px) of the last run: the in-graph decoder's outputs, or the
// heatmaps decoded by DARK.
std::vector<Keypoint> RunKeypoints(Runtime* runtime, bool in_graph, DarkDecoder* decoder,
                                   std::vector<float>* maps, const std::string& model) {
  const ModelInfo& info = runtime->info();
  if (!in_graph) {
    HeatmapsChannelsFirst(info, runtime->Output("heatmaps"), maps);
    return decoder->Decode(maps->data(), info.num_keypoints());
  }
  const OutputView xy = runtime->Output("keypoints"), scores = runtime->Output("scores");
  if (xy.uint8 || scores.uint8 || xy.count != 2 * scores.count ||
      scores.count != static_cast<size_t>(info.num_keypoints())) {
    throw UserError(model + ": the keypoints and scores outputs do not match the metadata");
  }
  std::vector<Keypoint> keypoints(scores.count);
  const float* p = static_cast<const float*>(xy.data);
  for (size_t k = 0; k < scores.count; ++k) {
    keypoints[k] = {p[2 * k], p[2 * k + 1], static_cast<const float*>(scores.data)[k]};
  }
  return keypoints;
}

// Per timed run, milliseconds: crop (warp and filling the input), network, decode, map.
struct Timings {
  std::vector<double> crop, network, decode, map;
  double PrePost() const {  // the median of crop + decode + map
    std::vector<double> sum(crop.size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = crop[i] + decode[i] + map[i];
    return Median(sum);
  }
};

void PrintReport(const Flags& flags, const Runtime& runtime, const Source& source,
                 const std::string& decoder_name, const std::vector<Keypoint>& keypoints,
                 const Timings& t) {
  const ModelInfo& info = runtime.info();
  std::printf("model: %s (%s, %s; %d keypoints; input %dx%d %s %s; decoder %s)\n",
              flags.model.c_str(), info.format_name.c_str(), runtime.name().c_str(),
              info.num_keypoints(), info.input_height, info.input_width,
              info.nchw ? "NCHW" : "NHWC", info.input_uint8 ? "uint8" : "float32",
              decoder_name.c_str());
  if (source.raw.empty()) {
    std::printf("image: %s (%dx%d); crop: %s\n", flags.image.c_str(), source.image.width,
                source.image.height, source.rule.c_str());
  } else {
    std::printf("input: %s (%s; keypoints in model-input px)\n", flags.raw_input.c_str(),
                source.rule.c_str());
  }
  int width = 8;
  for (const auto& n : info.names) width = std::max(width, static_cast<int>(n.size()));
  std::printf("%-*s %10s %10s %8s\n", width, "keypoint", "x", "y", "score");
  for (int k = 0; k < info.num_keypoints(); ++k) {
    std::printf("%-*s %10.3f %10.3f %8.4f\n", width, info.names[k].c_str(), keypoints[k].x,
                keypoints[k].y, keypoints[k].score);
  }
  std::printf("time per image (median of %d runs after %d warm-up, %d threads): network %.3f ms; "
              "pre/post %.3f ms (crop %.3f, decode %.3f, map %.4f); image file decoding %.3f ms\n",
              flags.count, flags.warmup, flags.threads, Median(t.network), t.PrePost(),
              Median(t.crop), Median(t.decode), Median(t.map), source.file_decoding_ms);
}

nlohmann::json Document(const std::string& program, const Flags& flags, const Runtime& runtime,
                        const Source& source, const std::string& decoder_name,
                        const std::vector<Keypoint>& keypoints, const Timings& t) {
  const ModelInfo& info = runtime.info();
  nlohmann::json doc;
  doc["program"] = program;
  doc["model"] = flags.model;
  doc["format_name"] = info.format_name;
  doc["runtime"] = runtime.name();
  doc["decoder"] = decoder_name;
  doc["crop"] = source.rule;
  if (source.raw.empty()) {
    doc["image"] = flags.image;
    doc["image_size"] = {source.image.width, source.image.height};
    doc["box"] = flags.has_box ? nlohmann::json({flags.box.x, flags.box.y, flags.box.w,
                                                 flags.box.h})
                               : nlohmann::json(nullptr);
    doc["coordinates"] = "original image pixels, integer = pixel centre";
  } else {
    doc["raw_input"] = flags.raw_input;
    doc["coordinates"] = "model-input pixels, integer = pixel centre";
  }
  const auto& m = source.to_image.m;
  doc["input_to_image"] = {{m[0][0], m[0][1], m[0][2]}, {m[1][0], m[1][1], m[1][2]}};
  doc["keypoints"] = nlohmann::json::array();
  for (int k = 0; k < info.num_keypoints(); ++k) {
    doc["keypoints"].push_back({{"name", info.names[k]}, {"x", keypoints[k].x},
                                {"y", keypoints[k].y}, {"score", keypoints[k].score}});
  }
  doc["timing_ms"] = {{"runs", flags.count}, {"warmup", flags.warmup}, {"threads", flags.threads},
                      {"network", Median(t.network)}, {"pre_post", t.PrePost()},
                      {"crop", Median(t.crop)}, {"decode", Median(t.decode)},
                      {"map", Median(t.map)}, {"image_file_decoding", source.file_decoding_ms},
                      {"statistic", "median"}};
  return doc;
}

// The program's runtime for the model file, loaded with the runtime's start-up messages silenced.
std::unique_ptr<Runtime> OpenRuntime(const std::string& model_path, int threads) {
  std::FILE* f = std::fopen(model_path.c_str(), "rb");
  if (f == nullptr) throw UserError(model_path + ": no such model file");
  std::fclose(f);
  QuietNativeOutput quiet;
  return LoadRuntime(model_path, threads);
}

int Main(int argc, char** argv, const std::string& program, const std::string& suffix) {
  bool help = false;
  const Flags flags = ParseFlags(argc, argv, &help);
  if (help) {
    std::printf(kUsage, program.c_str(), suffix.c_str());
    return 0;
  }
  const std::unique_ptr<Runtime> runtime = OpenRuntime(flags.model, flags.threads);
  const ModelInfo& info = runtime->info();
  const bool in_graph = !info.decoder.empty() &&
      std::find(info.output_names.begin(), info.output_names.end(), "keypoints") !=
          info.output_names.end();
  const Source source = LoadSource(flags, info);

  Timings timings;
  std::vector<float> maps;
  Image crop;
  DarkDecoder decoder(info.heatmap_height(), info.heatmap_width(), info.stride, info.sigma);
  std::vector<Keypoint> keypoints;
  for (int run = 0; run < flags.warmup + flags.count; ++run) {
    const auto t0 = Clock::now();
    if (source.raw.empty()) {
      crop = Warp(source.image, source.to_image, info.input_height, info.input_width);
      FillInput(info, crop.rgb.data(), runtime->input());
    } else {
      FillInput(info, source.raw.data(), runtime->input());
    }
    const auto t1 = Clock::now();
    runtime->Run();
    const auto t2 = Clock::now();
    keypoints = RunKeypoints(runtime.get(), in_graph, &decoder, &maps, flags.model);
    const auto t3 = Clock::now();
    for (auto& kp : keypoints) {
      const auto p = source.to_image.Apply(kp.x, kp.y);
      kp.x = p[0];
      kp.y = p[1];
    }
    const auto t4 = Clock::now();
    if (run >= flags.warmup) {
      timings.crop.push_back(Ms(t0, t1));
      timings.network.push_back(Ms(t1, t2));
      timings.decode.push_back(Ms(t2, t3));
      timings.map.push_back(Ms(t3, t4));
    }
  }

  const std::string decoder_name =
      in_graph ? info.decoder + " (in the model's graph)" : "dark (C++)";
  PrintReport(flags, *runtime, source, decoder_name, keypoints, timings);
  const std::string stem = Stem(source.raw.empty() ? flags.image : flags.raw_input);
  const std::string json_path = flags.output_dir + "/" + stem + "_keypoints.json";
  SaveText(json_path, Document(program, flags, *runtime, source, decoder_name, keypoints,
                               timings).dump(2) + "\n");
  std::printf("wrote %s", json_path.c_str());
  if (source.raw.empty()) {
    Image picture = source.image;
    DrawSkeleton(info, keypoints, flags.conf_threshold, &picture);
    const std::string picture_path = flags.output_dir + "/" + stem + "_skeleton.png";
    SaveImage(picture_path, picture);
    std::printf(", %s", picture_path.c_str());
    if (!flags.save_crop.empty()) {
      SaveImage(flags.save_crop, crop);
      std::printf(", %s", flags.save_crop.c_str());
    }
  }
  std::printf("\n");
  return 0;
}

}  // namespace

int RunProgram(int argc, char** argv, const std::string& program, const std::string& suffix) {
  try {
    return Main(argc, argv, program, suffix);
  } catch (const UserError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return 1;
  }
}

}  // namespace hourglass
