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
// (f = 2: (sum + 2) >> 2; otherwise the float product rounded half to even).
Image ReduceByArea(const Image& image, int x0, int y0, int small_w, int small_h, int f) {
  Image small;
  small.width = small_w;
  small.height = small_h;
  small.rgb.resize(static_cast<size_t>(small_w) * small_h * 3);
  const float scale = 1.0f / static_cast<float>(f * f);
  std::vector<int> sums(static_cast<size_t>(small_w) * 3);
  for (int sy = 0; sy < small_h; ++sy) {
    std::fill(sums.begin(), sums.end(), 0);
    for (int dy = 0; dy < f; ++dy) {
      const uint8_t* row = &image.rgb[(static_cast<size_t>(y0 + sy * f + dy) * image.width + x0) * 3];
      for (int sx = 0; sx < small_w; ++sx) {
        for (int dx = 0; dx < f; ++dx) {
          const uint8_t* p = row + (sx * f + dx) * 3;
          sums[sx * 3] += p[0];
          sums[sx * 3 + 1] += p[1];
          sums[sx * 3 + 2] += p[2];
        }
      }
    }
    uint8_t* out = &small.rgb[static_cast<size_t>(sy) * small_w * 3];
    for (int i = 0; i < small_w * 3; ++i) {
      const int v = f == 2 ? (sums[i] + 2) >> 2
                           : static_cast<int>(std::nearbyint(static_cast<float>(sums[i]) * scale));
      out[i] = static_cast<uint8_t>(std::min(255, std::max(0, v)));
    }
  }
  return small;
}

// cv2.warpAffine(INTER_LINEAR, BORDER_CONSTANT 0) with `to_output` (source px -> output px), as
// OpenCV 5 computes it: the inverted map in float32, each row's offset y m01 + m02 unfused, the
// source coordinates along the row and the two-step interpolation as fused multiply-adds in
// float32, rounded half to even; taps outside are 0. Bit-exact with cv2 on the tests' and the
// benchmark's images, so the C++ and Python crops are the same model input.
void Bilinear(const Image& src, const Affine& to_output, Image* out) {
  const Affine to_src = to_output.Inverse();
  float m[2][3];
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) m[r][c] = static_cast<float>(to_src.m[r][c]);
  }
  const int w = src.width, h = src.height;
  auto pixel = [&](int x, int y, int c) -> float {
    return x < 0 || x >= w || y < 0 || y >= h
               ? 0.0f : src.rgb[(static_cast<size_t>(y) * w + x) * 3 + c];
  };
  for (int y = 0; y < out->height; ++y) {
    const float row_x = static_cast<float>(y) * m[0][1] + m[0][2];
    const float row_y = static_cast<float>(y) * m[1][1] + m[1][2];
    uint8_t* row = &out->rgb[static_cast<size_t>(y) * out->width * 3];
    for (int x = 0; x < out->width; ++x) {
      const float sx = std::fma(m[0][0], static_cast<float>(x), row_x);
      const float sy = std::fma(m[1][0], static_cast<float>(x), row_y);
      const float fx = std::floor(sx), fy = std::floor(sy);
      uint8_t* p = row + x * 3;
      if (!(fx >= -1 && fx < w && fy >= -1 && fy < h)) {
        p[0] = p[1] = p[2] = 0;
        continue;
      }
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = sx - fx, ay = sy - fy;
      for (int c = 0; c < 3; ++c) {
        const float p00 = pixel(x0, y0, c), p01 = pixel(x0 + 1, y0, c);
        const float p10 = pixel(x0, y0 + 1, c), p11 = pixel(x0 + 1, y0 + 1, c);
        const float top = std::fma(ax, p01 - p00, p00), bottom = std::fma(ax, p11 - p10, p10);
        const float v = std::nearbyint(std::fma(ay, bottom - top, top));
        p[c] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
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
                                  {static_cast<double>(out_width), static_cast<double>(out_height)}};
    for (const auto& c : corners) {
      const auto p = output_to_image.Apply(c[0], c[1]);
      min_x = std::min(min_x, p[0]);
      max_x = std::max(max_x, p[0]);
      min_y = std::min(min_y, p[1]);
      max_y = std::max(max_y, p[1]);
    }
    auto clip = [](double v, int hi) { return static_cast<int>(std::min<double>(hi, std::max(0.0, v))); };
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
