// Activation checkpointing (torch.utils.checkpoint's idea) as a libtorch custom autograd Function: the
// forward runs a caller's function without recording a graph and keeps only its inputs; the backward runs
// the function again with gradients on, from the same random-generator state and autocast setting, and
// differentiates that recomputed graph. Memory: a block's activations live only during its own backward.
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <mutex>
#include <vector>
#include "internal.h"

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {
// The caller's function and its context, released (ct_checkpoint's `release`) when the graph node goes.
struct Body : torch::CustomClassHolder {
    ct_checkpoint_fn fn;
    void *context;
    void (*release)(void *);
    int64_t n_outputs;
    Body(ct_checkpoint_fn f, void *c, void (*r)(void *), int64_t n) : fn(f), context(c), release(r), n_outputs(n) {}
    ~Body() override {
        if (release) release(context);
    }

    // Runs the function on `inputs`; the outputs it returns become owned here.
    variable_list call(const variable_list &inputs) const {
        std::vector<ct_tensor> in;
        in.reserve(inputs.size());
        for (const auto &t : inputs) in.push_back(ctorch::wrap(t));  // the callee owns (and frees) these
        std::vector<ct_tensor> out(static_cast<size_t>(n_outputs), nullptr);
        int status = fn(context, in.data(), static_cast<int64_t>(in.size()), out.data(), n_outputs);
        variable_list result;
        for (auto handle : out) {
            if (handle) {
                result.push_back(ctorch::T(handle));
                delete static_cast<at::Tensor *>(handle);
            } else {
                result.emplace_back();
            }
        }
        TORCH_CHECK(status == 0, "checkpointed function failed: ", std::string(ct_last_error()));
        for (const auto &t : result) TORCH_CHECK(t.defined(), "checkpointed function returned fewer outputs than ", n_outputs);
        return result;
    }
};

struct Checkpoint : torch::autograd::Function<Checkpoint> {
    // inputs: the function's n_inputs tensors, then its parameters (passed so that the engine sends their
    // gradients through this node; the function reads them itself, not from here).
    // `all` is a TensorList, not a std::vector: only then does apply() count its tensors as inputs.
    static variable_list forward(AutogradContext *ctx, c10::intrusive_ptr<Body> body, int64_t n_inputs,
                                 at::TensorList all) {
        auto gen = at::detail::getDefaultCPUGenerator();
        at::Tensor rng;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            rng = gen.get_state();
        }
        ctx->set_materialize_grads(false);  // outputs without a gradient (ToMe's sizes) stay undefined
        ctx->saved_data["body"] = c10::IValue::make_capsule(c10::intrusive_ptr<torch::CustomClassHolder>(body));
        ctx->saved_data["rng"] = rng;
        ctx->saved_data["n_inputs"] = n_inputs;
        ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(at::kCPU);
        ctx->saved_data["autocast_dtype"] = static_cast<int64_t>(at::autocast::get_autocast_dtype(at::kCPU));
        variable_list inputs(all.begin(), all.begin() + n_inputs);
        // parameters are leaves: saved as they are, unpacked as the same tensors
        ctx->save_for_backward(all.vec());
        return body->call(inputs);  // grad mode is off inside a custom Function's forward
    }

    static variable_list backward(AutogradContext *ctx, variable_list grad_outputs) {
        auto capsule = ctx->saved_data["body"].toCapsule();  // keeps the body alive while used
        const Body *body = static_cast<const Body *>(capsule.get());
        int64_t n_inputs = ctx->saved_data["n_inputs"].toInt();
        auto saved = ctx->get_saved_variables();
        variable_list inputs, targets;
        for (int64_t i = 0; i < static_cast<int64_t>(saved.size()); ++i) {
            if (i < n_inputs) {
                auto d = saved[i].detach();
                d.set_requires_grad(saved[i].requires_grad());
                inputs.push_back(d);
            }
        }
        // the recomputation draws the same random numbers as the forward (dropout, DropPath), then the
        // generator continues where it was
        auto gen = at::detail::getDefaultCPUGenerator();
        at::Tensor now;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            now = gen.get_state();
            gen.set_state(ctx->saved_data["rng"].toTensor());
        }
        bool autocast_was = at::autocast::is_autocast_enabled(at::kCPU);
        auto autocast_dtype_was = at::autocast::get_autocast_dtype(at::kCPU);
        at::autocast::set_autocast_enabled(at::kCPU, ctx->saved_data["autocast"].toBool());
        at::autocast::set_autocast_dtype(at::kCPU, static_cast<at::ScalarType>(ctx->saved_data["autocast_dtype"].toInt()));
        variable_list outputs;
        try {
            at::AutoGradMode grad(true);
            outputs = body->call(inputs);
        } catch (...) {
            at::autocast::set_autocast_enabled(at::kCPU, autocast_was);
            at::autocast::set_autocast_dtype(at::kCPU, autocast_dtype_was);
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(now);
            throw;
        }
        at::autocast::set_autocast_enabled(at::kCPU, autocast_was);
        at::autocast::set_autocast_dtype(at::kCPU, autocast_dtype_was);
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(now);
        }
        // d outputs / d (inputs, parameters), for the outputs that carry a gradient
        variable_list roots, seeds;
        for (size_t i = 0; i < outputs.size() && i < grad_outputs.size(); ++i) {
            if (outputs[i].requires_grad() && grad_outputs[i].defined()) {
                roots.push_back(outputs[i]);
                seeds.push_back(grad_outputs[i]);
            }
        }
        std::vector<size_t> wanted;  // positions in `saved` that get a gradient
        for (size_t i = 0; i < saved.size(); ++i) {
            const auto &t = static_cast<int64_t>(i) < n_inputs ? inputs[i] : saved[i];
            if (t.requires_grad()) {
                wanted.push_back(i);
                targets.push_back(t);
            }
        }
        variable_list grads(saved.size() + 2);  // + the two non-tensor arguments (body, n_inputs)
        if (roots.empty() || targets.empty()) return grads;
        auto computed = torch::autograd::grad(roots, targets, seeds, /*retain_graph=*/false, /*create_graph=*/false,
                                              /*allow_unused=*/true);
        for (size_t j = 0; j < wanted.size(); ++j) grads[wanted[j] + 2] = computed[j];
        return grads;
    }
};
}  // namespace

int ct_checkpoint(ct_checkpoint_fn fn, void *context, void (*release)(void *), const ct_tensor *inputs,
                  int64_t n_inputs, const ct_tensor *parameters, int64_t n_parameters, ct_tensor *outputs,
                  int64_t n_outputs) {
    // the context is released exactly once, also when this call fails before the node exists
    auto body = c10::make_intrusive<Body>(fn, context, release, n_outputs);
    CT_GUARD({
        variable_list all;
        for (int64_t i = 0; i < n_inputs; ++i) all.push_back(ctorch::T(inputs[i]));
        for (int64_t i = 0; i < n_parameters; ++i) all.push_back(ctorch::T(parameters[i]));
        auto result = Checkpoint::apply(body, n_inputs, at::TensorList(all));
        for (int64_t i = 0; i < n_outputs; ++i) outputs[i] = ctorch::wrap(result[static_cast<size_t>(i)]);
    })
}
