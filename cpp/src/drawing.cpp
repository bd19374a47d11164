#include "drawing.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace hourglass {

namespace {

using Rgb = std::array<unsigned char, 3>;

void Disc(Image* image, double cx, double cy, double radius, const Rgb& colour) {
  const int x0 = std::max(0, static_cast<int>(std::floor(cx - radius)));
  const int x1 = std::min(image->width - 1, static_cast<int>(std::ceil(cx + radius)));
  const int y0 = std::max(0, static_cast<int>(std::floor(cy - radius)));
  const int y1 = std::min(image->height - 1, static_cast<int>(std::ceil(cy + radius)));
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius) {
        unsigned char* p = &image->rgb[(static_cast<size_t>(y) * image->width + x) * 3];
        p[0] = colour[0];
        p[1] = colour[1];
        p[2] = colour[2];
      }
    }
  }
}

void Line(Image* image, double x0, double y0, double x1, double y1, double half_width,
          const Rgb& colour) {
  const double length = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, static_cast<int>(std::ceil(length * 2)));
  for (int i = 0; i <= steps; ++i) {
    const double t = static_cast<double>(i) / steps;
    Disc(image, x0 + t * (x1 - x0), y0 + t * (y1 - y0), half_width, colour);
  }
}

}  // namespace

void DrawSkeleton(const ModelInfo& info, const std::vector<Keypoint>& keypoints,
                  float conf_threshold, Image* image) {
  const int side = std::min(image->width, image->height);
  const double radius = std::max(2, static_cast<int>(std::lround(side / 120.0)));
  const double thickness = std::max(1, static_cast<int>(std::lround(side / 200.0)));
  auto shown = [&](int k) {
    return keypoints[k].score > conf_threshold && std::isfinite(keypoints[k].x) &&
           std::isfinite(keypoints[k].y);
  };
  std::vector<Rgb> colours(keypoints.size(), Rgb{255, 255, 0});
  std::vector<bool> coloured(keypoints.size(), false);
  for (const auto& edge : info.skeleton) {
    for (int k : {edge.from, edge.to}) {
      if (!coloured[k]) colours[k] = edge.rgb, coloured[k] = true;
    }
    if (shown(edge.from) && shown(edge.to)) {
      Line(image, keypoints[edge.from].x, keypoints[edge.from].y, keypoints[edge.to].x,
           keypoints[edge.to].y, thickness / 2.0 + 0.5, edge.rgb);
    }
  }
  for (size_t k = 0; k < keypoints.size(); ++k) {
    if (shown(static_cast<int>(k))) Disc(image, keypoints[k].x, keypoints[k].y, radius, colours[k]);
  }
}

}  // namespace hourglass
