// Every MPI call of the project lives in this file.
#include "engine/mpi_transport.hpp"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/error.hpp"

namespace ns::engine {
namespace {

constexpr int kTag = 7;

// Communicators use MPI_ERRORS_RETURN, so a failing call returns here instead of aborting the
// job: it becomes ns::Error (internal, exit code 1) naming the call, the rank and MPI's text.
int g_rank = -1;  // this process's world rank once known (one MPI session per process)

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) std::snprintf(text, sizeof(text), "code %d", rc);
  NS_FAIL_CODE(kExitInternal, "{} failed on rank {}: {}", call, g_rank, text);
}

class MpiTransport final : public Transport {
 public:
  MpiTransport(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void send(int dest, const nlohmann::json& message) override {
    const std::string bytes = message.dump();
    // Messages are small (a trial's config or result); MPI_Send completes eagerly for them and
    // the receiver always posts a matching receive promptly.
    check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_CHAR, dest, kTag,
                   MPI_COMM_WORLD),
          "MPI_Send");
  }

  std::optional<Envelope> poll() override {
    int flag = 0;
    MPI_Status st;
    check(MPI_Iprobe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &flag, &st), "MPI_Iprobe");
    if (!flag) return std::nullopt;
    int count = 0;
    check(MPI_Get_count(&st, MPI_CHAR, &count), "MPI_Get_count");
    std::string buf(static_cast<size_t>(count), '\0');
    check(MPI_Recv(buf.data(), count, MPI_CHAR, st.MPI_SOURCE, kTag, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE),
          "MPI_Recv");
    return Envelope{st.MPI_SOURCE, nlohmann::json::parse(buf)};
  }

 private:
  int rank_, size_;
};

}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  g_rank = rank_;
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(node, &placement_.local_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(node, &placement_.local_size), "MPI_Comm_size");
  int is_root = rank_ == 0 ? 1 : 0, node_has_root = 0;
  check(MPI_Allreduce(&is_root, &node_has_root, 1, MPI_INT, MPI_MAX, node), "MPI_Allreduce");
  check(MPI_Comm_free(&node), "MPI_Comm_free");
  placement_.has_coordinator = node_has_root != 0;
  placement_.world_size = size_;
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::unique_ptr<Transport> MpiSession::transport() {
  return std::make_unique<MpiTransport>(rank_, size_);
}

std::string MpiSession::hostname() const {
  char buf[256] = {0};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

void MpiSession::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

int MpiSession::broadcast_int(int value) {
  check(MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return value;
}

int MpiSession::max_int(int value) {
  int out = value;
  check(MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

std::vector<std::string> MpiSession::gather_strings(const std::string& value) {
  int len = static_cast<int>(value.size());
  std::vector<int> lens(rank_ == 0 ? size_ : 0);
  check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::vector<int> offsets(lens.size());
  int total = 0;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    offsets[i] = total;
    total += lens[i];
  }
  std::vector<char> buf(static_cast<std::size_t>(total));
  check(MPI_Gatherv(value.data(), len, MPI_CHAR, buf.data(), lens.data(), offsets.data(), MPI_CHAR,
                    0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lens.size(); ++i)
    out.emplace_back(buf.data() + offsets[i], static_cast<std::size_t>(lens[i]));
  return out;
}

void MpiSession::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace ns::engine
