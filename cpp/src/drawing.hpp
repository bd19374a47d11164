// The skeleton picture: edges in their metadata colours, keypoints as filled circles in the
// colour of their first edge (yellow without one), sizes scaled with the image as in
// hourglass/keypoints/drawing.py. Keypoints whose score is not above the threshold are left out.
#pragma once

#include <vector>

#include "geometry.hpp"
#include "heatmap_decoder.hpp"
#include "model_info.hpp"

namespace hourglass {

void DrawSkeleton(const ModelInfo& info, const std::vector<Keypoint>& keypoints,
                  float conf_threshold, Image* image);

}  // namespace hourglass
