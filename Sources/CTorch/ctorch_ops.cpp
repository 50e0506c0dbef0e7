// Linear algebra, reductions, shapes, indexing, neural-network functions and autograd entry points.
#include <torch/csrc/autograd/function.h>
#include <vector>
#include "internal.h"

using namespace ctorch;

static std::vector<at::Tensor> tensors(const ct_tensor *ts, int n) {
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (int i = 0; i < n; i++) v.push_back(T(ts[i]));
    return v;
}
static void write_list(const std::vector<at::Tensor> &parts, ct_tensor *outs, int capacity, int *n_out) {
    TORCH_CHECK(static_cast<int>(parts.size()) <= capacity, "result has ", parts.size(),
                " tensors, more than the ", capacity, " slots given");
    for (size_t i = 0; i < parts.size(); i++) outs[i] = wrap(parts[i]);
    *n_out = static_cast<int>(parts.size());
}
static at::OptionalIntArrayRef dims_or_all(const int64_t *dims, int n) {
    return n == 0 ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(ints(dims, n));
}

extern "C" {

// ---- linear algebra ------------------------------------------------------------------------------------
int ct_matmul(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::matmul(T(a), T(b))) }
int ct_bmm(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::bmm(T(a), T(b))) }
int ct_mm(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::mm(T(a), T(b))) }
int ct_linalg_solve(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::linalg_solve(T(a), T(b))) }
int ct_cdist(ct_tensor a, ct_tensor b, double p, ct_tensor *out) { CT_OUT(at::cdist(T(a), T(b), p)) }
int ct_linalg_eigh(ct_tensor a, ct_tensor *values, ct_tensor *vectors) {
    CT_GUARD({
        auto r = at::linalg_eigh(T(a));
        *values = wrap(std::get<0>(r));
        *vectors = wrap(std::get<1>(r));
    })
}

// ---- reductions ------------------------------------------------------------------------------------------
// A full reduction without keepdim takes the overload Python's t.sum() / t.mean() takes (SumBackward0).
int ct_sum(ct_tensor a, const int64_t *dims, int n, int keepdim, int dtype, ct_tensor *out) {
    auto dt = dtype < 0 ? std::nullopt : std::optional<at::ScalarType>(static_cast<at::ScalarType>(dtype));
    CT_OUT(n == 0 && !keepdim ? at::sum(T(a), dt) : at::sum(T(a), dims_or_all(dims, n), keepdim != 0, dt))
}
int ct_mean(ct_tensor a, const int64_t *dims, int n, int keepdim, ct_tensor *out) {
    CT_OUT(n == 0 && !keepdim ? at::mean(T(a)) : at::mean(T(a), dims_or_all(dims, n), keepdim != 0))
}
int ct_prod(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out) {
    CT_OUT(has_dim ? at::prod(T(a), dim, keepdim != 0) : at::prod(T(a)))
}
int ct_var(ct_tensor a, const int64_t *dims, int n, int64_t correction, int keepdim, ct_tensor *out) {
    CT_OUT(at::var(T(a), dims_or_all(dims, n), at::Scalar(correction), keepdim != 0))
}
int ct_max_all(ct_tensor a, ct_tensor *out) { CT_OUT(at::max(T(a))) }
int ct_min_all(ct_tensor a, ct_tensor *out) { CT_OUT(at::min(T(a))) }
int ct_max_dim(ct_tensor a, int64_t dim, int keepdim, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto r = at::max(T(a), dim, keepdim != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
int ct_min_dim(ct_tensor a, int64_t dim, int keepdim, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto r = at::min(T(a), dim, keepdim != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
int ct_argmax(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out) {
    CT_OUT(at::argmax(T(a), has_dim ? std::optional<int64_t>(dim) : std::nullopt, keepdim != 0))
}
int ct_argmin(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out) {
    CT_OUT(at::argmin(T(a), has_dim ? std::optional<int64_t>(dim) : std::nullopt, keepdim != 0))
}
int ct_sort(ct_tensor a, int64_t dim, int descending, int stable, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto r = at::sort(T(a), stable != 0, dim, descending != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
int ct_argsort(ct_tensor a, int64_t dim, int descending, int stable, ct_tensor *out) {
    CT_OUT(at::argsort(T(a), stable != 0, dim, descending != 0))
}
int ct_topk(ct_tensor a, int64_t k, int64_t dim, int largest, int sorted, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto r = at::topk(T(a), k, dim, largest != 0, sorted != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
int ct_norm(ct_tensor a, double p, const int64_t *dims, int n, int keepdim, ct_tensor *out) {
    CT_OUT(n == 0 && !keepdim ? at::norm(T(a), p) : at::norm(T(a), p, ints(dims, n), keepdim != 0))
}
int ct_logsumexp(ct_tensor a, const int64_t *dims, int n, int keepdim, ct_tensor *out) {
    CT_GUARD({
        std::vector<int64_t> all;
        if (n == 0)
            for (int64_t i = 0; i < T(a).dim(); i++) all.push_back(i);
        *out = wrap(at::logsumexp(T(a), n == 0 ? at::IntArrayRef(all) : ints(dims, n), keepdim != 0));
    })
}
int ct_cumsum(ct_tensor a, int64_t dim, ct_tensor *out) { CT_OUT(at::cumsum(T(a), dim)) }
int ct_all(ct_tensor a, ct_tensor *out) { CT_OUT(at::all(T(a))) }
int ct_any(ct_tensor a, ct_tensor *out) { CT_OUT(at::any(T(a))) }

// ---- shapes ------------------------------------------------------------------------------------------------
int ct_reshape(ct_tensor a, const int64_t *s, int n, ct_tensor *out) { CT_OUT(T(a).reshape(ints(s, n))) }
int ct_view(ct_tensor a, const int64_t *s, int n, ct_tensor *out) { CT_OUT(T(a).view(ints(s, n))) }
int ct_permute(ct_tensor a, const int64_t *d, int n, ct_tensor *out) { CT_OUT(T(a).permute(ints(d, n))) }
int ct_transpose(ct_tensor a, int64_t d0, int64_t d1, ct_tensor *out) { CT_OUT(T(a).transpose(d0, d1)) }
int ct_flatten(ct_tensor a, int64_t s, int64_t e, ct_tensor *out) { CT_OUT(T(a).flatten(s, e)) }
int ct_squeeze(ct_tensor a, int64_t dim, int has_dim, ct_tensor *out) {
    CT_OUT(has_dim ? T(a).squeeze(dim) : T(a).squeeze())
}
int ct_unsqueeze(ct_tensor a, int64_t dim, ct_tensor *out) { CT_OUT(T(a).unsqueeze(dim)) }
int ct_expand(ct_tensor a, const int64_t *s, int n, ct_tensor *out) { CT_OUT(T(a).expand(ints(s, n))) }
int ct_repeat(ct_tensor a, const int64_t *r, int n, ct_tensor *out) { CT_OUT(T(a).repeat(ints(r, n))) }
int ct_flip(ct_tensor a, const int64_t *d, int n, ct_tensor *out) { CT_OUT(T(a).flip(ints(d, n))) }
int ct_cat(const ct_tensor *ts, int n, int64_t dim, ct_tensor *out) { CT_OUT(at::cat(tensors(ts, n), dim)) }
int ct_stack(const ct_tensor *ts, int n, int64_t dim, ct_tensor *out) { CT_OUT(at::stack(tensors(ts, n), dim)) }
int ct_split(ct_tensor a, int64_t size, int64_t dim, ct_tensor *outs, int cap, int *n_out) {
    CT_GUARD(write_list(T(a).split(size, dim), outs, cap, n_out))
}
int ct_split_sizes(ct_tensor a, const int64_t *sizes, int ns, int64_t dim, ct_tensor *outs, int cap, int *n_out) {
    CT_GUARD(write_list(T(a).split_with_sizes(ints(sizes, ns), dim), outs, cap, n_out))
}
int ct_chunk(ct_tensor a, int64_t chunks, int64_t dim, ct_tensor *outs, int cap, int *n_out) {
    CT_GUARD(write_list(T(a).chunk(chunks, dim), outs, cap, n_out))
}
int ct_tril(ct_tensor a, int64_t d, ct_tensor *out) { CT_OUT(at::tril(T(a), d)) }
int ct_triu(ct_tensor a, int64_t d, ct_tensor *out) { CT_OUT(at::triu(T(a), d)) }
int ct_diag_embed(ct_tensor a, ct_tensor *out) { CT_OUT(at::diag_embed(T(a))) }
int ct_diagonal(ct_tensor a, ct_tensor *out) { CT_OUT(at::diagonal(T(a), 0, -2, -1)) }

// ---- indexing ------------------------------------------------------------------------------------------------
int ct_slice(ct_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, ct_tensor *out) {
    CT_OUT(T(a).slice(dim, start, end, step))
}
int ct_select(ct_tensor a, int64_t dim, int64_t index, ct_tensor *out) { CT_OUT(T(a).select(dim, index)) }
int ct_index_select(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor *out) {
    CT_OUT(at::index_select(T(a), dim, T(index)))
}
static c10::List<std::optional<at::Tensor>> index_list(const ct_tensor *idx, int n) {
    c10::List<std::optional<at::Tensor>> list;
    for (int i = 0; i < n; i++) list.push_back(opt(idx[i]));
    return list;
}
int ct_index(ct_tensor a, const ct_tensor *idx, int n, ct_tensor *out) { CT_OUT(at::index(T(a), index_list(idx, n))) }
int ct_index_put(ct_tensor a, const ct_tensor *idx, int n, ct_tensor values, int accumulate, ct_tensor *out) {
    CT_OUT(at::index_put(T(a), index_list(idx, n), T(values), accumulate != 0))
}
int ct_gather(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor *out) { CT_OUT(at::gather(T(a), dim, T(index))) }
int ct_scatter(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor src, ct_tensor *out) {
    CT_OUT(at::scatter(T(a), dim, T(index), T(src)))
}
int ct_scatter_reduce(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor src, const char *reduce, int include_self,
                      ct_tensor *out) {
    CT_OUT(at::scatter_reduce(T(a), dim, T(index), T(src), reduce, include_self != 0))
}
int ct_masked_select(ct_tensor a, ct_tensor mask, ct_tensor *out) { CT_OUT(at::masked_select(T(a), T(mask))) }
int ct_nonzero(ct_tensor a, ct_tensor *out) { CT_OUT(at::nonzero(T(a))) }

// ---- neural-network functions --------------------------------------------------------------------------------
int ct_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor *out) { CT_OUT(at::linear(T(x), T(w), opt(b))) }
int ct_conv1d(ct_tensor x, ct_tensor w, ct_tensor b, int64_t stride, int64_t padding, int64_t dilation,
              int64_t groups, ct_tensor *out) {
    CT_OUT(at::conv1d(T(x), T(w), opt(b), stride, padding, dilation, groups))
}
int ct_conv_transpose1d(ct_tensor x, ct_tensor w, ct_tensor b, int64_t stride, int64_t padding,
                        int64_t output_padding, int64_t groups, int64_t dilation, ct_tensor *out) {
    CT_OUT(at::conv_transpose1d(T(x), T(w), opt(b), stride, padding, output_padding, groups, dilation))
}
int ct_layer_norm(ct_tensor x, const int64_t *s, int n, ct_tensor w, ct_tensor b, double eps, ct_tensor *out) {
    CT_OUT(at::layer_norm(T(x), ints(s, n), opt(w), opt(b), eps))
}
int ct_group_norm(ct_tensor x, int64_t groups, ct_tensor w, ct_tensor b, double eps, ct_tensor *out) {
    CT_OUT(at::group_norm(T(x), groups, opt(w), opt(b), eps))
}
int ct_softmax(ct_tensor x, int64_t dim, ct_tensor *out) { CT_OUT(at::softmax(T(x), dim)) }
int ct_log_softmax(ct_tensor x, int64_t dim, ct_tensor *out) { CT_OUT(at::log_softmax(T(x), dim)) }
int ct_dropout(ct_tensor x, double p, int train, ct_tensor *out) { CT_OUT(at::dropout(T(x), p, train != 0)) }
int ct_sdpa(ct_tensor q, ct_tensor k, ct_tensor v, ct_tensor mask, double dropout_p, int is_causal, double scale,
            ct_tensor *out) {
    CT_OUT(at::scaled_dot_product_attention(T(q), T(k), T(v), opt(mask), dropout_p, is_causal != 0,
                                            scale < 0 ? std::nullopt : std::optional<double>(scale)))
}
int ct_cross_entropy(ct_tensor logits, ct_tensor target, int reduction, int64_t ignore_index, double smoothing,
                     ct_tensor *out) {
    CT_OUT(at::cross_entropy_loss(T(logits), T(target), std::nullopt, reduction, ignore_index, smoothing))
}
int ct_mse_loss(ct_tensor a, ct_tensor b, int reduction, ct_tensor *out) { CT_OUT(at::mse_loss(T(a), T(b), reduction)) }
int ct_l1_loss(ct_tensor a, ct_tensor b, int reduction, ct_tensor *out) { CT_OUT(at::l1_loss(T(a), T(b), reduction)) }
int ct_cosine_similarity(ct_tensor a, ct_tensor b, int64_t dim, double eps, ct_tensor *out) {
    CT_OUT(at::cosine_similarity(T(a), T(b), dim, eps))
}
int ct_embedding(ct_tensor w, ct_tensor idx, ct_tensor *out) { CT_OUT(at::embedding(T(w), T(idx))) }

// ---- autograd ------------------------------------------------------------------------------------------------
int ct_requires_grad(ct_tensor t, int *out) { CT_GUARD(*out = T(t).requires_grad()) }
int ct_set_requires_grad(ct_tensor t, int r) { CT_GUARD(T(t).requires_grad_(r != 0)) }
int ct_backward(ct_tensor t, ct_tensor grad, int retain_graph) {
    CT_GUARD(T(t).backward(grad ? T(grad) : at::Tensor(), retain_graph ? std::optional<bool>(true) : std::nullopt))
}
int ct_grad(ct_tensor t, ct_tensor *out) {
    CT_GUARD({
        const auto &g = T(t).grad();
        *out = g.defined() ? wrap(g) : nullptr;
    })
}
int ct_zero_grad(ct_tensor t, int set_to_none) {
    CT_GUARD({
        auto &g = T(t).mutable_grad();
        if (!g.defined()) return 0;
        if (set_to_none) {
            g.reset();
        } else {
            g = g.detach();
            g.zero_();
        }
    })
}
int ct_detach(ct_tensor t, ct_tensor *out) { CT_OUT(T(t).detach()) }
int ct_grad_fn_name(ct_tensor t, const char **out) {
    static thread_local std::string name;
    CT_GUARD({
        const auto &fn = T(t).grad_fn();
        *out = nullptr;
        if (fn) {
            name = fn->name();
            auto colon = name.rfind("::");
            if (colon != std::string::npos) name = name.substr(colon + 2);
            *out = name.c_str();
        }
    })
}

}  // extern "C"
