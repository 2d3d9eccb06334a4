// Dashboard assets — the files of the live dashboard (src/tandem/serve/dashboard/),
// embedded into the binary at build time (cmake/embed_assets.cmake) so the server
// needs nothing on disk.
// Contract: a static table; contents live for the program's lifetime.
// Thread safety: immutable.
#pragma once

#include <span>
#include <string_view>

namespace tandem::serve {

struct DashboardAsset {
  const char* path;          // URL path, e.g. "/" or "/dashboard.js"
  const char* content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view content;
};

std::span<const DashboardAsset> dashboard_assets();

}  // namespace tandem::serve
