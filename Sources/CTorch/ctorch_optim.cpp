// AdamW and gradient clipping from libtorch's C++ frontend.
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <vector>
#include "internal.h"

using namespace ctorch;

static torch::optim::AdamW &A(ct_optimizer o) { return *static_cast<torch::optim::AdamW *>(o); }
static torch::optim::AdamWOptions &group_options(ct_optimizer o, int g) {
    auto &groups = A(o).param_groups();
    TORCH_CHECK(g >= 0 && g < static_cast<int>(groups.size()), "AdamW has ", groups.size(), " groups, asked for ", g);
    return static_cast<torch::optim::AdamWOptions &>(groups[g].options());
}
static void *state_key(const at::Tensor &p) { return p.unsafeGetTensorImpl(); }

extern "C" {

int ct_adamw_new(const ct_tensor *params, const int64_t *group_sizes, int ngroups, const double *lrs,
                 const double *wds, double beta1, double beta2, double eps, ct_optimizer *out) {
    CT_GUARD({
        std::vector<torch::optim::OptimizerParamGroup> groups;
        int64_t k = 0;
        for (int g = 0; g < ngroups; g++) {
            std::vector<at::Tensor> ps;
            for (int64_t i = 0; i < group_sizes[g]; i++) ps.push_back(T(params[k++]));
            auto o = std::make_unique<torch::optim::AdamWOptions>(lrs[g]);
            o->betas(std::make_tuple(beta1, beta2)).eps(eps).weight_decay(wds[g]);
            groups.emplace_back(std::move(ps), std::move(o));
        }
        auto defaults = torch::optim::AdamWOptions(ngroups > 0 ? lrs[0] : 1e-3);
        defaults.betas(std::make_tuple(beta1, beta2)).eps(eps);
        *out = new torch::optim::AdamW(std::move(groups), defaults);
    })
}
void ct_adamw_free(ct_optimizer opt) { delete static_cast<torch::optim::AdamW *>(opt); }
int ct_adamw_step(ct_optimizer opt) { CT_GUARD(A(opt).step()) }
int ct_adamw_zero_grad(ct_optimizer opt, int set_to_none) { CT_GUARD(A(opt).zero_grad(set_to_none != 0)) }
int ct_adamw_set_group(ct_optimizer opt, int g, double lr, double beta1, double beta2, double wd) {
    CT_GUARD({
        auto &o = group_options(opt, g);
        o.lr(lr).betas(std::make_tuple(beta1, beta2)).weight_decay(wd);
    })
}
int ct_adamw_get_group(ct_optimizer opt, int g, double *lr, double *beta1, double *beta2, double *wd) {
    CT_GUARD({
        auto &o = group_options(opt, g);
        *lr = o.lr();
        *beta1 = std::get<0>(o.betas());
        *beta2 = std::get<1>(o.betas());
        *wd = o.weight_decay();
    })
}
int ct_adamw_get_state(ct_optimizer opt, ct_tensor param, int *has_state, int64_t *step, ct_tensor *exp_avg,
                       ct_tensor *exp_avg_sq) {
    CT_GUARD({
        auto &state = A(opt).state();
        auto it = state.find(state_key(T(param)));
        *has_state = it != state.end();
        if (!*has_state) return 0;
        auto &s = static_cast<torch::optim::AdamWParamState &>(*it->second);
        *step = s.step();
        *exp_avg = wrap(s.exp_avg());
        *exp_avg_sq = wrap(s.exp_avg_sq());
    })
}
int ct_adamw_set_state(ct_optimizer opt, ct_tensor param, int64_t step, ct_tensor exp_avg, ct_tensor exp_avg_sq) {
    CT_GUARD({
        const auto &p = T(param);
        TORCH_CHECK(T(exp_avg).sizes() == p.sizes() && T(exp_avg_sq).sizes() == p.sizes(),
                    "AdamW state of shape ", T(exp_avg).sizes(), " does not fit a parameter of shape ", p.sizes());
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(step);
        s->exp_avg(T(exp_avg).detach().to(p.options()).clone());
        s->exp_avg_sq(T(exp_avg_sq).detach().to(p.options()).clone());
        A(opt).state()[state_key(p)] = std::move(s);
    })
}

int ct_clip_grad_norm(const ct_tensor *params, int n, double max_norm, double norm_type, double *total_norm) {
    CT_GUARD({
        std::vector<at::Tensor> ps;
        for (int i = 0; i < n; i++) ps.push_back(T(params[i]));
        *total_norm = torch::nn::utils::clip_grad_norm_(ps, max_norm, norm_type);
    })
}

}  // extern "C"
