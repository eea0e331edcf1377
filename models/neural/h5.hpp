#pragma once
// Minimal RAII wrapper over the HDF5 C API for root-level datasets (docs/formats.md). Errors are
// ns::Error naming the file and the dataset; HDF5's own error printing is switched off.
#include <cstdint>
#include <string>
#include <vector>

namespace ns::models::neural::h5 {

enum class TypeClass { kInteger, kFloat, kOther };

struct DatasetInfo {
  std::vector<std::int64_t> dims;
  TypeClass type = TypeClass::kOther;
  std::size_t type_size = 0;  ///< bytes per element in the file
  std::int64_t values = 0;    ///< product of dims (checked against overflow and the storage)
  std::string shape() const;  ///< "[8000, 50, 50]"
};

class File {
 public:
  /// Opens an existing file read-only.
  static File open(const std::string& path);
  /// Creates (truncates) a file for writing.
  static File create(const std::string& path);
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;  ///< root-level datasets, sorted
  DatasetInfo info(const std::string& name) const;
  /// Reads a whole dataset converted by HDF5 to float / int32.
  std::vector<float> read_float(const std::string& name) const;
  std::vector<std::int32_t> read_int(const std::string& name) const;

  void write(const std::string& name, const std::vector<std::int64_t>& dims, const float* data);
  void write(const std::string& name, const std::vector<std::int64_t>& dims,
             const std::uint8_t* data);
  void write(const std::string& name, const std::vector<std::int64_t>& dims,
             const std::int8_t* data);
  void write(const std::string& name, const std::vector<std::int64_t>& dims,
             const std::int64_t* data);

 private:
  File(std::string path, long long id) : path_(std::move(path)), id_(id) {}
  void read_raw(const std::string& name, long long mem_type, void* out) const;
  void write_raw(const std::string& name, const std::vector<std::int64_t>& dims,
                 long long mem_type, const void* data);
  std::string path_;
  long long id_ = -1;  // hid_t, kept out of this header
};

}  // namespace ns::models::neural::h5
