// Image files: decoded by stb_image (PNG, JPEG, BMP, ...; no EXIF rotation), written by
// stb_image_write under a temporary name, then renamed.
#pragma once

#include <string>

#include "geometry.hpp"

namespace hourglass {

// Throws UserError naming the file when it cannot be read or decoded.
Image LoadRgb(const std::string& path);

// Writes a .png or .jpg (by the name's suffix) atomically. Throws UserError on failure.
void SaveImage(const std::string& path, const Image& image);

// Writes text atomically (temporary name, then rename). Throws UserError on failure.
void SaveText(const std::string& path, const std::string& text);

}  // namespace hourglass
