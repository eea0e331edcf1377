#include "models/neural/h5.hpp"

#include <hdf5.h>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "core/file.hpp"

namespace ns::models::neural::h5 {
namespace {

void quiet_hdf5() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // we report errors ourselves
    return true;
  }();
  (void)once;
}

// Closes an HDF5 handle on scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

}  // namespace

std::string DatasetInfo::shape() const {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

File File::open(const std::string& path) {
  quiet_hdf5();
  NS_CHECK(std::filesystem::exists(path), "dataset file '{}' does not exist (check \"path\" in "
                                          "the data block; relative paths start at the current "
                                          "directory)", path);
  core::require_regular_file(path, "HDF5 file");  // H5Fis_hdf5 would block on a FIFO
  NS_CHECK(H5Fis_hdf5(path.c_str()) > 0, "'{}' is not an HDF5 file", path);
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  NS_CHECK(id >= 0, "cannot open HDF5 file '{}' for reading", path);
  return File(path, id);
}

File File::create(const std::string& path) {
  quiet_hdf5();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  NS_CHECK(id >= 0, "cannot create HDF5 file '{}' (does its directory exist and is it writable?)",
           path);
  return File(path, id);
}

File::File(File&& other) noexcept : path_(std::move(other.path_)), id_(other.id_) {
  other.id_ = -1;
}

File::~File() {
  if (id_ >= 0) H5Fclose(static_cast<hid_t>(id_));
}

bool File::has(const std::string& name) const {
  if (H5Lexists(static_cast<hid_t>(id_), name.c_str(), H5P_DEFAULT) <= 0) return false;
  // H5Oopen + H5Iget_type: the same call in HDF5 1.10 (Debian 12) and 1.14 (Debian 13), where
  // H5Oget_info_by_name changed its signature.
  const hid_t obj = H5Oopen(static_cast<hid_t>(id_), name.c_str(), H5P_DEFAULT);
  // The name is there but its object header cannot be read (HDF5 1.14 refuses a damaged header
  // here, 1.10 only when the data is read).
  NS_CHECK(obj >= 0, "{}: `{}` is in the file but its header cannot be read: the file is damaged",
           path_, name);
  const bool dataset = H5Iget_type(obj) == H5I_DATASET;
  H5Oclose(obj);
  return dataset;
}

std::vector<std::string> File::names() const {
  std::vector<std::string> out;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  H5Literate(static_cast<hid_t>(id_), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, cb, &out);
  std::sort(out.begin(), out.end());
  return out;
}

DatasetInfo File::info(const std::string& name) const {
  NS_CHECK(has(name), "{}: dataset `{}` not found", path_, name);
  Handle ds{H5Dopen2(static_cast<hid_t>(id_), name.c_str(), H5P_DEFAULT), H5Dclose};
  NS_CHECK(ds.id >= 0, "{}: cannot open dataset `{}`", path_, name);
  Handle space{H5Dget_space(ds.id), H5Sclose};
  Handle type{H5Dget_type(ds.id), H5Tclose};
  DatasetInfo info;
  const int rank = H5Sget_simple_extent_ndims(space.id);
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  NS_CHECK(rank >= 0, "{}: dataset `{}` has an unreadable shape (is the file damaged?)", path_,
           name);
  for (hsize_t d : dims) info.dims.push_back(static_cast<std::int64_t>(d));
  const H5T_class_t cls = H5Tget_class(type.id);
  info.type = cls == H5T_INTEGER ? TypeClass::kInteger
              : cls == H5T_FLOAT ? TypeClass::kFloat
                                 : TypeClass::kOther;
  info.type_size = H5Tget_size(type.id);
  if (info.type != TypeClass::kOther) {
    // libhdf5 converts what the header says without checking it (a bit field past the type's
    // size overflows its conversion buffers, found by tests/fuzz): only whole standard sizes
    // with their bits inside them are read.
    const std::size_t bits = 8 * info.type_size, precision = H5Tget_precision(type.id);
    const int offset = H5Tget_offset(type.id);
    bool sane = (info.type_size == 1 || info.type_size == 2 || info.type_size == 4 ||
                 info.type_size == 8) &&
                precision > 0 && offset >= 0 && precision + static_cast<std::size_t>(offset) <= bits;
    if (sane && info.type == TypeClass::kFloat) {
      std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
      sane = H5Tget_fields(type.id, &spos, &epos, &esize, &mpos, &msize) >= 0 &&
             spos < precision && epos + esize <= precision && mpos + msize <= precision &&
             esize > 0 && esize < 64 && msize > 0;
    }
    NS_CHECK(sane,
             "{}: dataset `{}` has a number type that is not a standard integer or float ({} "
             "bytes); the file is damaged",
             path_, name, info.type_size);
  }
  // A damaged header can claim any shape: refuse one whose values could not be stored in the
  // file (gzip, HDF5's strongest standard filter, stays under ~1000:1), before allocating.
  constexpr std::int64_t kMaxValues = std::int64_t{1} << 40;
  info.values = 1;
  for (std::int64_t d : info.dims) {
    NS_CHECK(d >= 0 && (d == 0 || info.values <= kMaxValues / d),
             "{}: dataset `{}` claims shape {}, too large to be real (is the file damaged?)",
             path_, name, info.shape());
    info.values *= d;
  }
  // The storage size is also read from the file: no more than the file itself holds.
  std::error_code ec;
  const auto file_bytes = static_cast<double>(std::filesystem::file_size(path_, ec));
  const double stored = std::min(static_cast<double>(H5Dget_storage_size(ds.id)),
                                 ec ? 0.0 : file_bytes);
  NS_CHECK(static_cast<double>(info.values) * 4.0 <= 1000.0 * stored + (1 << 20),
           "{}: dataset `{}` claims shape {} ({} values) but the file stores only {} bytes of "
           "it; the file is damaged or truncated",
           path_, name, info.shape(), info.values, static_cast<std::int64_t>(stored));
  return info;
}

void File::read_raw(const std::string& name, long long mem_type, void* out) const {
  Handle ds{H5Dopen2(static_cast<hid_t>(id_), name.c_str(), H5P_DEFAULT), H5Dclose};
  NS_CHECK(ds.id >= 0, "{}: cannot open dataset `{}`", path_, name);
  NS_CHECK(H5Dread(ds.id, static_cast<hid_t>(mem_type), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0,
           "{}: cannot read dataset `{}` (is it numeric?)", path_, name);
}

std::vector<float> File::read_float(const std::string& name) const {
  const DatasetInfo i = info(name);
  NS_CHECK(i.type != TypeClass::kOther, "{}: dataset `{}` is not numeric", path_, name);
  std::vector<float> out(i.values);
  const std::int64_t n = i.values;
  if (n > 0) read_raw(name, H5T_NATIVE_FLOAT, out.data());
  return out;
}

std::vector<std::int32_t> File::read_int(const std::string& name) const {
  const DatasetInfo i = info(name);
  NS_CHECK(i.type == TypeClass::kInteger, "{}: dataset `{}` must hold integers", path_, name);
  std::vector<std::int32_t> out(i.values);
  const std::int64_t n = i.values;
  if (n > 0) read_raw(name, H5T_NATIVE_INT32, out.data());
  return out;
}

void File::write_raw(const std::string& name, const std::vector<std::int64_t>& dims,
                     long long mem_type, const void* data) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  Handle space{H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), H5Sclose};
  Handle ds{H5Dcreate2(static_cast<hid_t>(id_), name.c_str(), static_cast<hid_t>(mem_type),
                       space.id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose};
  NS_CHECK(ds.id >= 0, "{}: cannot create dataset `{}`", path_, name);
  NS_CHECK(H5Dwrite(ds.id, static_cast<hid_t>(mem_type), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0,
           "{}: cannot write dataset `{}`", path_, name);
}

void File::write(const std::string& name, const std::vector<std::int64_t>& dims,
                 const float* data) {
  write_raw(name, dims, H5T_NATIVE_FLOAT, data);
}
void File::write(const std::string& name, const std::vector<std::int64_t>& dims,
                 const std::uint8_t* data) {
  write_raw(name, dims, H5T_NATIVE_UINT8, data);
}
void File::write(const std::string& name, const std::vector<std::int64_t>& dims,
                 const std::int8_t* data) {
  write_raw(name, dims, H5T_NATIVE_INT8, data);
}
void File::write(const std::string& name, const std::vector<std::int64_t>& dims,
                 const std::int64_t* data) {
  write_raw(name, dims, H5T_NATIVE_INT64, data);
}

}  // namespace ns::models::neural::h5
