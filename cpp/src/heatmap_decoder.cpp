#include "heatmap_decoder.hpp"

#include <algorithm>
#include <cmath>

namespace hourglass {

namespace {

constexpr float kLogEps = 1e-10f;

// TF's REFLECT padding: -1 -> 1, n -> n - 2.
inline int Reflect(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// Newton step -H^-1 g on the 3x3 log patch around (cx, cy); zero where the Hessian is not
// negative definite (no maximum to refine).
void DarkOffset(const float* map, int width, int cx, int cy, float scale, float* ox, float* oy) {
  auto at = [&](int dx, int dy) {
    return std::log(std::max(map[(cy + dy) * width + cx + dx] * scale, kLogEps));
  };
  const float l00 = at(-1, -1), l01 = at(0, -1), l02 = at(1, -1);
  const float l10 = at(-1, 0), l11 = at(0, 0), l12 = at(1, 0);
  const float l20 = at(-1, 1), l21 = at(0, 1), l22 = at(1, 1);
  const float dx = 0.5f * (l12 - l10), dy = 0.5f * (l21 - l01);
  const float dxx = l12 - 2 * l11 + l10, dyy = l21 - 2 * l11 + l01;
  const float dxy = 0.25f * (l22 - l20 - l02 + l00);
  const float det = dxx * dyy - dxy * dxy;
  if (dxx < 0 && det > 1e-12f) {
    *ox = -(dyy * dx - dxy * dy) / det;
    *oy = -(dxx * dy - dxy * dx) / det;
  } else {
    *ox = *oy = 0.0f;
  }
}

}  // namespace

DarkDecoder::DarkDecoder(int height, int width, int stride, float sigma)
    : height_(height), width_(width), stride_(stride),
      radius_(std::max(1, static_cast<int>(std::ceil(3.0 * sigma)))) {
  std::vector<double> taps;
  double sum = 0;
  for (int i = -radius_; i <= radius_; ++i) {
    const double z = i / static_cast<double>(sigma);
    taps.push_back(std::exp(-0.5 * z * z));
    sum += taps.back();
  }
  for (double t : taps) taps_.push_back(static_cast<float>(t / sum));
  padded_.resize(static_cast<size_t>(width) + 2 * radius_);
  row_pass_.resize(static_cast<size_t>(height) * width);
  blurred_.resize(static_cast<size_t>(height) * width);
}

std::vector<Keypoint> DarkDecoder::Decode(const float* heatmaps, int num_keypoints) {
  const int h = height_, w = width_, r = radius_;
  std::vector<Keypoint> out(num_keypoints);
  for (int k = 0; k < num_keypoints; ++k) {
    const float* map = heatmaps + static_cast<size_t>(k) * h * w;
    int best = 0;  // the first maximum, as tf.argmax
    for (int i = 1; i < h * w; ++i) {
      if (map[i] > map[best]) best = i;
    }
    const int px = best % w, py = best / w;
    const float peak = map[best];
    const int cx = std::min(std::max(px, 1), w - 2), cy = std::min(std::max(py, 1), h - 2);
    float ox, oy;
    const bool inner = px > r && px < w - 1 - r && py > r && py < h - 1 - r;
    if (inner) {
      // DARK's modulation: separable blur (rows, then columns; reflect padding), rescaled to the
      // old maximum. Each output sums its taps in the same order in both passes.
      for (int y = 0; y < h; ++y) {
        for (int x = -r; x < w + r; ++x) padded_[x + r] = map[y * w + Reflect(x, w)];
        for (int x = 0; x < w; ++x) {
          float acc = 0;
          for (int t = 0; t <= 2 * r; ++t) acc += taps_[t] * padded_[x + t];
          row_pass_[y * w + x] = acc;
        }
      }
      float new_max = -INFINITY;
      for (int y = 0; y < h; ++y) {
        float* out = &blurred_[y * w];
        std::fill(out, out + w, 0.0f);
        for (int t = 0; t <= 2 * r; ++t) {
          const float* in = &row_pass_[Reflect(y + t - r, h) * w];
          for (int x = 0; x < w; ++x) out[x] += taps_[t] * in[x];
        }
        for (int x = 0; x < w; ++x) new_max = std::max(new_max, out[x]);
      }
      DarkOffset(blurred_.data(), w, cx, cy, peak / std::max(new_max, kLogEps), &ox, &oy);
    } else {
      DarkOffset(map, w, cx, cy, 1.0f, &ox, &oy);
    }
    const float hx = std::min(std::max(cx + ox, px - 1.0f), px + 1.0f);
    const float hy = std::min(std::max(cy + oy, py - 1.0f), py + 1.0f);
    out[k] = {hx * stride_ + (stride_ - 1) / 2.0, hy * stride_ + (stride_ - 1) / 2.0, peak};
  }
  return out;
}

}  // namespace hourglass
