// Object box <-> model-input geometry and the crop warp: the C++ twin of core/geometry.py
// (integer coordinates are pixel centres; a box is grown to the model aspect about its centre and
// mapped onto the input centre; the warp reduces by an integer factor with area averaging before
// bilinear sampling when it shrinks 2x or more).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace hourglass {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3]
};

// An affine map [2, 3]: (x, y) -> (m[0][0] x + m[0][1] y + m[0][2], m[1][0] x + ...).
struct Affine {
  std::array<std::array<double, 3>, 2> m{};
  std::array<double, 2> Apply(double x, double y) const {
    return {m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2]};
  }
  Affine Inverse() const;
};

struct Box {
  double x, y, w, h;  // original px, [x, y] the top-left corner, as the boxes files give them
};

// Rounds half to even in the default rounding mode, as OpenCV's saturate_cast and numpy's round
// (|v| < 2^22), without a library call.
inline float RoundHalfEven(float v) {
  const float magic = 12582912.0f;  // 1.5 * 2^23: the sum keeps no fraction
  return (v + magic) - magic;
}

// Model-input px -> image px for an object box scaled by `box_scale` about its centre (the
// model's box margin for detector and user boxes). Throws UserError for a degenerate box.
Affine InputToImage(const Box& box, int input_height, int input_width, double box_scale);

// Model-input px -> image px for the whole image letterboxed (centred), as --eval_box=letterbox.
Affine LetterboxInputToImage(int image_height, int image_width, int input_height,
                             int input_width);

// Samples the [out_height, out_width] RGB crop seen through `output_to_image` (black outside the
// image), exactly as core/geometry.py's warp with OpenCV's INTER_AREA and INTER_LINEAR.
Image Warp(const Image& image, const Affine& output_to_image, int out_height, int out_width);

}  // namespace hourglass
