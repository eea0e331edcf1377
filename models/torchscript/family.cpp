#include "models/torchscript/family.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/json.hpp"
#include "models/classifier/family.hpp"
#include "models/neural/family.hpp"

namespace ns::models::torchscript {
namespace {

// Each call goes to the task's own family object; the spec's block names the task, and reaches
// every call the same way (ModelFamily): as `options`, DataFacts::options or TrialContext::options.
class TorchScriptFamily final : public engine::ModelFamily {
 public:
  TorchScriptFamily()
      : TorchScriptFamily(neural::torchscript_neural_task(),
                          classifier::torchscript_classification_task()) {}

  std::string description() const override {
    return "your TorchScript module (torch.jit.script(model).save(path)), named by the "
           "\"module\" parameter, trained by the built-in protocol that the \"torchscript\" "
           "block's task names: " + neural_->description() + "; " + classification_->description() +
           " (training settings and metrics below are the neural task's; the classification "
           "task has convnet's)";
  }
  sweeps::FamilySchema schema_for(const nlohmann::json& options,
                                  const std::string& where) const override {
    NS_CHECK(!options.is_null(),
             "{}: required: the torchscript family needs a \"torchscript\" block, e.g. "
             "{{\"task\": \"neural\", \"smoothness\": {{\"param\": \"conv0.weight\", "
             "\"weight\": 5e-6}}}} or {{\"task\": \"classification\"}}",
             where);
    NS_CHECK(options.is_object(), "{}: expected an object", where);
    NS_CHECK(options.contains("task"), "{}.task: required: \"neural\" or \"classification\"",
             where);
    core::JsonFields(options, where).choice("task", "", {"neural", "classification"});
    return task(options).schema_for(options, where);
  }
  engine::DataFacts check_data(const nlohmann::json&, const std::string&) const override {
    NS_FAIL_CODE(kExitInternal, "torchscript: check_data needs the spec's block (its task): "
                                "call check_data_with");
  }
  engine::DataFacts check_data_for(const nlohmann::json& data, const std::string& json_path,
                                   const nlohmann::json& options) const override {
    return task(options).check_data_for(data, json_path, options);
  }
  void check_params(const nlohmann::json& params, const engine::DataFacts& data) const override {
    task(data.options).check_params(params, data);
  }
  std::vector<engine::InputPath> input_files(
      const nlohmann::json& data, const nlohmann::json& options,
      const std::vector<nlohmann::json>& configurations) const override {
    return task(options).input_files(data, options, configurations);
  }
  // The block without the regularizers' "weight": each is the default of a sweep parameter of
  // the same name, so it reaches the trial ids through the parameters.
  nlohmann::json identity_options(const nlohmann::json& options) const override {
    nlohmann::json out = options;
    if (!out.is_object()) return out;
    for (const char* kind : {"smoothness", "readout_l1", "group_sparsity"})
      if (out.contains(kind) && out[kind].is_object()) out[kind].erase("weight");
    return out;
  }
  std::string validation() const override { return neural_->validation(); }
  double relative_cost(const nlohmann::json& params, const engine::DataFacts& data) const override {
    return task(data.options).relative_cost(params, data);
  }
  std::string pack_key(const nlohmann::json& params, const engine::DataFacts& data) const override {
    return task(data.options).pack_key(params, data);
  }
  // Both tasks' loops partition their train + val data (maskcnn's and convnet's runners).
  bool supports_folds() const override {
    return neural_->supports_folds() && classification_->supports_folds();
  }
  // One runner per worker that trains each trial by its task (TrialContext::options).
  std::unique_ptr<engine::TrialRunner> make_runner() const override {
    return std::make_unique<Runner>(*this);
  }

 private:
  TorchScriptFamily(std::unique_ptr<engine::ModelFamily> neural,
                    std::unique_ptr<engine::ModelFamily> classification)
      : ModelFamily(neural->schema()),
        neural_(std::move(neural)),
        classification_(std::move(classification)) {}

  enum class Task { kNeural, kClassification };

  // The task the spec's block names (schema_for refused a block without one), read by the
  // block's parser into an enum.
  const engine::ModelFamily& task(const nlohmann::json& options) const {
    const Task t = core::JsonFields(options, "$.torchscript")
                       .choice_of<Task>("task", Task::kNeural,
                                        {{"neural", Task::kNeural},
                                         {"classification", Task::kClassification}});
    return t == Task::kClassification ? *classification_ : *neural_;
  }

  class Runner final : public engine::TrialRunner {
   public:
    explicit Runner(const TorchScriptFamily& family) : family_(family) {}
    engine::TrialOutcome run(const engine::TrialContext& ctx) override {
      const engine::ModelFamily& task = family_.task(ctx.options);
      auto& runner = &task == family_.classification_.get() ? classification_ : neural_;
      if (!runner) runner = task.make_runner();
      return runner->run(ctx);
    }

   private:
    const TorchScriptFamily& family_;
    std::unique_ptr<engine::TrialRunner> neural_, classification_;
  };

  std::unique_ptr<engine::ModelFamily> neural_, classification_;
};

}  // namespace

std::unique_ptr<engine::ModelFamily> torchscript_family() {
  return std::make_unique<TorchScriptFamily>();
}

}  // namespace ns::models::torchscript
