#include <catch2/catch.hpp>

#include "engine/device.hpp"

using namespace ns::engine;

TEST_CASE("device choice: local worker index modulo visible GPUs", "[device]") {
  // 1 node, 5 ranks: rank 0 coordinates, ranks 1..4 train on 2 GPUs.
  NodePlacement p{0, 5, true, 5};
  CHECK(choose_device(p, 2) == "cuda:0");  // the coordinator's own choice (it does not train)
  p.local_rank = 1;
  CHECK(choose_device(p, 2) == "cuda:0");
  p.local_rank = 2;
  CHECK(choose_device(p, 2) == "cuda:1");
  p.local_rank = 3;
  CHECK(choose_device(p, 2) == "cuda:0");
  CHECK(choose_device(p, 0) == "cpu");
  // A second node without the coordinator: local rank 0 trains on GPU 0.
  NodePlacement q{0, 4, false, 9};
  CHECK(choose_device(q, 4) == "cuda:0");
  q.local_rank = 3;
  CHECK(choose_device(q, 4) == "cuda:3");
  // -np 1: rank 0 trains.
  NodePlacement one{0, 1, true, 1};
  CHECK(choose_device(one, 1) == "cuda:0");
}

TEST_CASE("threads: cores per node over training ranks per node", "[device]") {
  CHECK(choose_threads(NodePlacement{1, 3, true, 3}, 2, 0) == 1);   // 2 workers on 2 cores
  CHECK(choose_threads(NodePlacement{1, 2, true, 2}, 2, 0) == 2);   // 1 worker on 2 cores
  CHECK(choose_threads(NodePlacement{0, 1, true, 1}, 16, 0) == 16); // -np 1
  CHECK(choose_threads(NodePlacement{2, 8, false, 16}, 4, 0) == 1); // oversubscribed: at least 1
  CHECK(choose_threads(NodePlacement{1, 3, true, 3}, 2, 3) == 3);   // explicit --threads
}

TEST_CASE("CUDA_VISIBLE_DEVICES counting", "[device]") {
  CHECK(count_visible_devices(nullptr) == -1);
  CHECK(count_visible_devices("") == 0);
  CHECK(count_visible_devices("3") == 1);
  CHECK(count_visible_devices("0,2,5") == 3);
}
