// NumPy .npz archives (a zip of .npy members, stored or deflated, as numpy.savez / savez_compressed
// write them), for tests that read golden arrays kept only in that form.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "engine/io/npy.hpp"

namespace folio::engine {

// Every member, keyed by its name without ".npy". Throws folio::Error (Input) naming the file (and the
// member) for a damaged archive, an unsupported zip feature (ZIP64, encryption, other compressions), a
// CRC mismatch or a member that is not a supported .npy.
std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path);

}  // namespace folio::engine
