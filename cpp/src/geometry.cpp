#include "geometry.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "errors.hpp"

namespace hourglass {

Affine Affine::Inverse() const {
  // OpenCV's invertAffineTransform, which cv2.warpAffine applies to the map it is given.
  double det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  det = det != 0.0 ? 1.0 / det : 0.0;
  Affine inv;
  const double a11 = m[1][1] * det, a22 = m[0][0] * det;
  const double a12 = -m[0][1] * det, a21 = -m[1][0] * det;
  inv.m[0] = {a11, a12, -a11 * m[0][2] - a12 * m[1][2]};
  inv.m[1] = {a21, a22, -a21 * m[0][2] - a22 * m[1][2]};
  return inv;
}

Affine InputToImage(const Box& box, int input_height, int input_width, double box_scale) {
  if (!(box.w > 0 && box.h > 0 && std::isfinite(box.x) && std::isfinite(box.y) &&
        std::isfinite(box.w) && std::isfinite(box.h))) {
    std::ostringstream message;
    message << "degenerate box " << box.x << "," << box.y << "," << box.w << "," << box.h;
    throw UserError(message.str());
  }
  const double cx = box.x + box.w / 2.0, cy = box.y + box.h / 2.0;
  double w = box.w * box_scale;
  const double h = box.h * box_scale;
  // Grow the shorter side to the model aspect W_in / H_in (core/geometry.py expand_to_aspect).
  if (!(w * input_height > h * input_width)) w = h * input_width / input_height;
  const double inv_s = w / input_width;  // image px per input px
  Affine a;
  a.m[0] = {inv_s, 0.0, cx - inv_s * (input_width - 1) / 2.0};
  a.m[1] = {0.0, inv_s, cy - inv_s * (input_height - 1) / 2.0};
  return a;
}

Affine LetterboxInputToImage(int image_height, int image_width, int input_height,
                             int input_width) {
  return InputToImage({-0.5, -0.5, static_cast<double>(image_width),
                       static_cast<double>(image_height)},
                      input_height, input_width, 1.0);
}

namespace {

// OpenCV's INTER_AREA resize by an integer factor f: block means, rounded as OpenCV rounds them
// (f = 2: (sum + 2) >> 2; otherwise the float product rounded half to even). Rows are summed
// first (f rows of the region added element-wise), then each f-pixel group of the sum.
Image ReduceByArea(const Image& image, int x0, int y0, int small_w, int small_h, int f) {
  Image small;
  small.width = small_w;
  small.height = small_h;
  small.rgb.resize(static_cast<size_t>(small_w) * small_h * 3);
  const float scale = 1.0f / static_cast<float>(f * f);
  const int row_values = small_w * f * 3;
  std::vector<int> rows(row_values), groups(static_cast<size_t>(small_w) * 3);
  for (int sy = 0; sy < small_h; ++sy) {
    std::fill(rows.begin(), rows.end(), 0);
    for (int dy = 0; dy < f; ++dy) {
      // __restrict: a uint8_t pointer may alias anything, which would keep the loop scalar.
      const uint8_t* __restrict row =
          &image.rgb[(static_cast<size_t>(y0 + sy * f + dy) * image.width + x0) * 3];
      int* __restrict sums = rows.data();
      for (int i = 0; i < row_values; ++i) sums[i] += row[i];
    }
    // Group sums of f pixels, then the means (within 0..255: no clamping needed).
    std::fill(groups.begin(), groups.end(), 0);
    for (int sx = 0; sx < small_w; ++sx) {
      for (int dx = 0; dx < f; ++dx) {
        for (int c = 0; c < 3; ++c) groups[sx * 3 + c] += rows[(sx * f + dx) * 3 + c];
      }
    }
    uint8_t* __restrict out = &small.rgb[static_cast<size_t>(sy) * small_w * 3];
    if (f == 2) {
      for (int i = 0; i < small_w * 3; ++i) out[i] = static_cast<uint8_t>((groups[i] + 2) >> 2);
    } else {
      for (int i = 0; i < small_w * 3; ++i) {
        out[i] = static_cast<uint8_t>(RoundHalfEven(static_cast<float>(groups[i]) * scale));
      }
    }
  }
  return small;
}

// One source tap position per output column or row: the integer part and the fraction.
struct Tap {
  int index;     // floor of the source coordinate; out of [-1, size - 1]: the border
  float weight;  // the fraction
};

Tap MakeTap(float s, int size) {
  if (!(s > -2.0f && s < size + 1.0f)) return Tap{-2, 0.0f};  // far outside, or not finite
  int i = static_cast<int>(s);
  i -= s < static_cast<float>(i);  // floor, without a library call
  return Tap{i, s - static_cast<float>(i)};
}

// cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0) with `to_output` (source px -> output px), as
// OpenCV 5 computes it: the inverted map in float32, each row's offset y m01 + m02 unfused, the
// source coordinates along the row and the two-step interpolation (along x, then y) as fused
// multiply-adds in float32, rounded half to even; taps outside are 0. Bit-exact with cv2 on the
// tests' and the benchmark's images, so the C++ and Python crops are the same model input.
// Crops are never rotated (m01 = m10 = 0): the taps of each column and row are computed once,
// and each source row's interpolation along x once for every output row that reads it.
#if defined(__x86_64__)
__attribute__((target_clones("fma", "default")))  // the FMA instruction where the CPU has it
#endif
void Bilinear(const Image& src, const Affine& to_output, Image* out) {
  const Affine to_src = to_output.Inverse();
  float m[2][3];
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) m[r][c] = static_cast<float>(to_src.m[r][c]);
  }
  if (m[0][1] != 0.0f || m[1][0] != 0.0f) throw UserError("the crop warp takes no rotation");
  const int w = src.width, h = src.height, out_w = out->width, values = out_w * 3;
  std::vector<Tap> columns(out_w);
  // Per column: the byte offsets of its two taps in a row (clamped into the row) and whether
  // each is inside (1) or the border (0), so that the loop along x has no branch.
  std::vector<int> offsets(2 * out_w);
  std::vector<float> inside(2 * out_w);
  for (int x = 0; x < out_w; ++x) {
    columns[x] = MakeTap(std::fma(m[0][0], static_cast<float>(x), m[0][2]), w);
    for (int k = 0; k < 2; ++k) {
      const int i = columns[x].index + k;
      inside[2 * x + k] = i >= 0 && i < w ? 1.0f : 0.0f;
      offsets[2 * x + k] = std::min(std::max(i, 0), w - 1) * 3;
    }
  }
  // Source row `r` interpolated along x for every output column: [out_w * 3], 0 outside.
  auto along_x = [&](int r, float* __restrict dst) {
    if (r < 0 || r >= h) {
      std::fill(dst, dst + values, 0.0f);
      return;
    }
    const uint8_t* __restrict line = &src.rgb[static_cast<size_t>(r) * w * 3];
    for (int x = 0; x < out_w; ++x) {
      const uint8_t* a = line + offsets[2 * x];
      const uint8_t* b = line + offsets[2 * x + 1];
      const float in_a = inside[2 * x], in_b = inside[2 * x + 1], weight = columns[x].weight;
      for (int c = 0; c < 3; ++c) {
        const float p0 = a[c] * in_a, p1 = b[c] * in_b;  // exact: 0 or the pixel value
        dst[x * 3 + c] = std::fma(weight, p1 - p0, p0);
      }
    }
  };
  std::vector<float> upper(values), lower(values);
  int upper_row = -3, lower_row = -3;  // the source rows held in upper and lower
  for (int y = 0; y < out->height; ++y) {
    const Tap ty = MakeTap(static_cast<float>(y) * m[1][1] + m[1][2], h);
    uint8_t* row = &out->rgb[static_cast<size_t>(y) * values];
    if (ty.index < -1 || ty.index >= h) {
      std::fill(row, row + values, 0);
      continue;
    }
    if (upper_row != ty.index) {
      if (lower_row == ty.index) {
        std::swap(upper, lower);
        std::swap(upper_row, lower_row);
      } else {
        along_x(ty.index, upper.data());
        upper_row = ty.index;
      }
    }
    if (lower_row != ty.index + 1) {
      along_x(ty.index + 1, lower.data());
      lower_row = ty.index + 1;
    }
    for (int i = 0; i < values; ++i) {
      const float v = RoundHalfEven(std::fma(ty.weight, lower[i] - upper[i], upper[i]));
      row[i] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
    }
    for (int x = 0; x < out_w; ++x) {  // columns wholly outside are the border
      if (columns[x].index < -1 || columns[x].index >= w) {
        row[x * 3] = row[x * 3 + 1] = row[x * 3 + 2] = 0;
      }
    }
  }
}

}  // namespace

Image Warp(const Image& image, const Affine& output_to_image, int out_height, int out_width) {
  Affine to_output = output_to_image.Inverse();
  const int factor =
      std::max(1, static_cast<int>(std::floor(std::fabs(output_to_image.m[0][0]) + 1e-9)));
  const Image* source = &image;
  Image small;
  if (factor > 1) {
    double min_x = 1e300, min_y = 1e300, max_x = -1e300, max_y = -1e300;
    const double corners[4][2] = {{-1.0, -1.0}, {static_cast<double>(out_width), -1.0},
                                  {-1.0, static_cast<double>(out_height)},
                                  {static_cast<double>(out_width),
                                   static_cast<double>(out_height)}};
    for (const auto& c : corners) {
      const auto p = output_to_image.Apply(c[0], c[1]);
      min_x = std::min(min_x, p[0]);
      max_x = std::max(max_x, p[0]);
      min_y = std::min(min_y, p[1]);
      max_y = std::max(max_y, p[1]);
    }
    auto clip = [](double v, int hi) {
      return static_cast<int>(std::min<double>(hi, std::max(0.0, v)));
    };
    const int x0 = clip(std::floor(min_x) - 2 * factor, image.width) / factor * factor;
    const int y0 = clip(std::floor(min_y) - 2 * factor, image.height) / factor * factor;
    const int x1 = clip(std::ceil(max_x) + 2 * factor, image.width);
    const int y1 = clip(std::ceil(max_y) + 2 * factor, image.height);
    const int small_w = (x1 - x0) / factor, small_h = (y1 - y0) / factor;
    if (small_w >= 1 && small_h >= 1) {
      small = ReduceByArea(image, x0, y0, small_w, small_h, factor);
      source = &small;
      // Reduced pixel i is centred at image px f i + (f - 1) / 2 (+ the region's corner).
      const double ox = x0 + (factor - 1) / 2.0, oy = y0 + (factor - 1) / 2.0;
      Affine composed;
      for (int r = 0; r < 2; ++r) {
        composed.m[r] = {to_output.m[r][0] * factor, to_output.m[r][1] * factor,
                         to_output.m[r][0] * ox + to_output.m[r][1] * oy + to_output.m[r][2]};
      }
      to_output = composed;
    }
  }
  Image out;
  out.width = out_width;
  out.height = out_height;
  out.rgb.assign(static_cast<size_t>(out_width) * out_height * 3, 0);
  Bilinear(*source, to_output, &out);
  return out;
}

}  // namespace hourglass
