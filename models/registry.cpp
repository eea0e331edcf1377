#include "models/registry.hpp"

#include "models/command/family.hpp"
#include "models/quadratic.hpp"
#ifdef HAVE_NS_NEURAL
#include "models/neural/family.hpp"
#endif
#ifdef HAVE_NS_CLASSIFIER
#include "models/classifier/family.hpp"
#endif
#ifdef HAVE_NS_TORCHSCRIPT
#include "models/torchscript/family.hpp"
#endif

namespace ns::models {

void register_all(engine::FamilyRegistry& registry) {
  registry.add(quadratic_family());
  registry.add(command::command_family());
#ifdef HAVE_NS_NEURAL
  registry.add(neural::maskcnn_family());
#endif
#ifdef HAVE_NS_CLASSIFIER
  registry.add(classifier::convnet_family());
#endif
#ifdef HAVE_NS_TORCHSCRIPT
  registry.add(torchscript::torchscript_family());
#endif
}

}  // namespace ns::models
