#include "image_io.hpp"

#include <cstdio>
#include <fstream>

#include "errors.hpp"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace hourglass {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void Publish(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw UserError(path + ": cannot write the file");
  }
}

}  // namespace

Image LoadRgb(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw UserError(path + ": cannot read the image (no such file?)");
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load_from_file(f, &width, &height, &channels, 3);
  std::fclose(f);
  if (pixels == nullptr) {
    throw UserError(path + ": cannot decode the image (" + stbi_failure_reason() + ")");
  }
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.assign(pixels, pixels + static_cast<size_t>(width) * height * 3);
  stbi_image_free(pixels);
  return image;
}

void SaveImage(const std::string& path, const Image& image) {
  const std::string lower = Lower(path);
  const std::string tmp = path + ".tmp-write";
  int ok = 0;
  if (EndsWith(lower, ".png")) {
    ok = stbi_write_png(tmp.c_str(), image.width, image.height, 3, image.rgb.data(),
                        image.width * 3);
  } else if (EndsWith(lower, ".jpg") || EndsWith(lower, ".jpeg")) {
    ok = stbi_write_jpg(tmp.c_str(), image.width, image.height, 3, image.rgb.data(), 95);
  } else {
    throw UserError(path + ": unknown image type (name it .png or .jpg)");
  }
  if (!ok) {
    std::remove(tmp.c_str());
    throw UserError(path + ": cannot write the image");
  }
  Publish(tmp, path);
}

void SaveText(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-write";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) {
      std::remove(tmp.c_str());
      throw UserError(path + ": cannot write the file");
    }
  }
  Publish(tmp, path);
}

}  // namespace hourglass
