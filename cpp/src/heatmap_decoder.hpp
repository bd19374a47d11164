// Heatmaps -> keypoints with the Python side's default decoder, DARK (Zhang et al. 2020), exactly
// as hourglass/keypoints/codec.py decodes: argmax, Gaussian modulation of the heatmap (blur with
// the codec's sigma, reflect padding, maximum kept), a Newton step on its logarithm around the
// maximum (stencil moved one pixel inwards at the edge; the blurred map only where the blur
// kernel fits inside), the result kept within one heatmap pixel of the argmax.
#pragma once

#include <vector>

namespace hourglass {

struct Keypoint {
  double x, y;  // model-input px (integer = pixel centre) until mapped to the image
  float score;  // the heatmap's peak value
};

class DarkDecoder {
 public:
  DarkDecoder(int height, int width, int stride, float sigma);

  // heatmaps: float [K, h, w] (one map after the other). Returns K keypoints in model-input px.
  std::vector<Keypoint> Decode(const float* heatmaps, int num_keypoints);

 private:
  int height_, width_, stride_, radius_;
  std::vector<float> taps_;                 // the normalised 1-D Gaussian, 2 radius + 1 taps
  std::vector<float> padded_;               // scratch: one reflect-padded row [w + 2 radius]
  std::vector<float> row_pass_, blurred_;   // scratch [h, w]
};

}  // namespace hourglass
