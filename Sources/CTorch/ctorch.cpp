// Runtime, metadata, creation and element-wise entry points of the shim.
#include <ATen/autocast_mode.h>
#include <ATen/Parallel.h>
#include <ATen/ScalarOps.h>
#include <torch/headeronly/version.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <malloc.h>
#include <climits>
#include <cstring>
#include "internal.h"

using namespace ctorch;

namespace ctorch {
static thread_local std::string last_error;
void set_error(const std::string &message) { last_error = message; }
}  // namespace ctorch

extern "C" {

const char *ct_last_error(void) { return ctorch::last_error.c_str(); }

int ct_init(void) {
    // libtorch registers CUDA when libtorch_cuda.so is loaded; nothing references it at link time
    // (the linker would drop it), so load it by hand next to libtorch_cpu when it exists.
    CT_GUARD({
        Dl_info info;
        if (dladdr(reinterpret_cast<void *>(&at::manual_seed), &info) && info.dli_fname) {
            std::string dir(info.dli_fname);
            dir = dir.substr(0, dir.find_last_of('/') + 1);
            dlopen((dir + "libtorch_cuda.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
        }
    })
}

const char *ct_version(void) { return TORCH_VERSION; }

int ct_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // glibc maps every block above its mmap threshold (32 MiB at most) separately and unmaps it when freed,
    // so the next allocation of that size faults and zeroes its pages again. Without separate mappings,
    // and with trimming of the heap's top only beyond INT_MAX bytes, freed blocks stay for reuse.
    return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1 ? 1 : 0;
#else
    return 0;
#endif
}

int ct_malloc_info(int64_t *arena, int64_t *in_use, int64_t *mmapped) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    *arena = static_cast<int64_t>(info.arena);
    *in_use = static_cast<int64_t>(info.uordblks);
    *mmapped = static_cast<int64_t>(info.hblkhd);
    return 1;
#else
    *arena = *in_use = *mmapped = 0;
    return 0;
#endif
}
int ct_set_num_threads(int n) { CT_GUARD(at::set_num_threads(n)) }
int ct_get_num_threads(void) { return at::get_num_threads(); }
int ct_cuda_device_count(void) {
    try {
        return static_cast<int>(at::detail::getCUDAHooks().deviceCount());
    } catch (...) {
        return 0;
    }
}
int ct_manual_seed(uint64_t seed) { CT_GUARD(at::manual_seed(seed)) }
int ct_rng_get_state(ct_tensor *out) { CT_OUT(at::detail::getDefaultCPUGenerator().get_state()) }
int ct_rng_set_state(ct_tensor state) { CT_GUARD(auto gen = at::detail::getDefaultCPUGenerator(); gen.set_state(T(state))) }
int ct_set_grad_enabled(int enabled, int *previous) {
    CT_GUARD({
        *previous = c10::GradMode::is_enabled();
        c10::GradMode::set_enabled(enabled != 0);
    })
}
int ct_is_grad_enabled(void) { return c10::GradMode::is_enabled(); }
int ct_autocast_set(int device_type, int enabled, int dtype) {
    CT_GUARD({
        auto dev = device_type == 1 ? at::kCUDA : at::kCPU;
        at::autocast::set_autocast_enabled(dev, enabled != 0);
        at::autocast::set_autocast_dtype(dev, static_cast<at::ScalarType>(dtype));
        if (!enabled) at::autocast::clear_cache();
    })
}
int ct_autocast_clear_cache(void) { CT_GUARD(at::autocast::clear_cache()) }

// ---- handles and metadata ------------------------------------------------------------------------
void ct_free(ct_tensor t) { delete static_cast<at::Tensor *>(t); }
int ct_shallow_clone(ct_tensor t, ct_tensor *out) { CT_OUT(T(t)) }
int ct_ndim(ct_tensor t, int64_t *out) { CT_GUARD(*out = T(t).dim()) }
int ct_sizes(ct_tensor t, int64_t *out) {
    CT_GUARD({
        auto s = T(t).sizes();
        std::copy(s.begin(), s.end(), out);
    })
}
int ct_strides(ct_tensor t, int64_t *out) {
    CT_GUARD({
        auto s = T(t).strides();
        std::copy(s.begin(), s.end(), out);
    })
}
int ct_dtype(ct_tensor t, int *out) { CT_GUARD(*out = static_cast<int>(T(t).scalar_type())) }
int ct_device(ct_tensor t, int *type, int *index) {
    CT_GUARD({
        auto d = T(t).device();
        *type = d.is_cuda() ? 1 : 0;
        *index = d.has_index() ? d.index() : 0;
    })
}
int ct_numel(ct_tensor t, int64_t *out) { CT_GUARD(*out = T(t).numel()) }
int ct_is_contiguous(ct_tensor t, int *out) { CT_GUARD(*out = T(t).is_contiguous()) }
int ct_defined(ct_tensor t, int *out) { CT_GUARD(*out = T(t).defined()) }

// ---- data in and out ---------------------------------------------------------------------------------
int ct_from_data(const void *data, const int64_t *shape, int ndim, int dtype, ct_tensor *out) {
    CT_GUARD({
        auto t = at::empty(ints(shape, ndim), at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)));
        if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data, t.nbytes());
        *out = wrap(std::move(t));
    })
}
int ct_copy_to_buffer(ct_tensor t, void *dst, size_t nbytes) {
    CT_GUARD({
        auto c = T(t).detach().to(at::kCPU).contiguous();
        TORCH_CHECK(c.nbytes() == nbytes, "copy_to_buffer: tensor holds ", c.nbytes(), " bytes, buffer ", nbytes);
        if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
    })
}
int ct_item_double(ct_tensor t, double *out) { CT_GUARD(*out = T(t).item<double>()) }
int ct_item_int64(ct_tensor t, int64_t *out) { CT_GUARD(*out = T(t).item<int64_t>()) }
int ct_to(ct_tensor t, int dtype, int dev, int idx, ct_tensor *out) {
    CT_OUT(T(t).to(device(dev, idx), static_cast<at::ScalarType>(dtype)))
}
int ct_contiguous(ct_tensor t, ct_tensor *out) { CT_OUT(T(t).contiguous()) }
int ct_clone(ct_tensor t, ct_tensor *out) { CT_OUT(T(t).clone()) }

// ---- creation --------------------------------------------------------------------------------------------
int ct_empty(const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::empty(ints(s, n), options(dt, dev, idx)))
}
int ct_zeros(const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::zeros(ints(s, n), options(dt, dev, idx)))
}
int ct_ones(const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::ones(ints(s, n), options(dt, dev, idx)))
}
int ct_full(const int64_t *s, int n, double v, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::full(ints(s, n), v, options(dt, dev, idx)))
}
int ct_arange(double start, double end, double step, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::arange(start, end, step, options(dt, dev, idx)))
}
int ct_linspace(double start, double end, int64_t steps, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::linspace(start, end, steps, options(dt, dev, idx)))
}
int ct_eye(int64_t n, int64_t m, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::eye(n, m, options(dt, dev, idx)))
}
int ct_rand(const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::rand(ints(s, n), options(dt, dev, idx)))
}
int ct_randn(const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::randn(ints(s, n), options(dt, dev, idx)))
}
int ct_randint(int64_t low, int64_t high, const int64_t *s, int n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::randint(low, high, ints(s, n), options(dt, dev, idx)))
}
int ct_randperm(int64_t n, int dt, int dev, int idx, ct_tensor *out) {
    CT_OUT(at::randperm(n, options(dt, dev, idx)))
}
int ct_sample_dirichlet(ct_tensor c, ct_tensor *out) { CT_OUT(at::_sample_dirichlet(T(c))) }
int ct_bernoulli(ct_tensor p, ct_tensor *out) { CT_OUT(at::bernoulli(T(p))) }

// ---- element-wise --------------------------------------------------------------------------------------------
static at::Tensor binary(int op, const at::Tensor &a, const at::Tensor &b) {
    switch (op) {
        case CT_ADD: return at::add(a, b);
        case CT_SUB: return at::sub(a, b);
        case CT_MUL: return at::mul(a, b);
        case CT_DIV: return at::div(a, b);
        case CT_POW: return at::pow(a, b);
        case CT_MAXIMUM: return at::maximum(a, b);
        case CT_MINIMUM: return at::minimum(a, b);
        case CT_REMAINDER: return at::remainder(a, b);
        case CT_ATAN2: return at::atan2(a, b);
        case CT_EQ: return at::eq(a, b);
        case CT_NE: return at::ne(a, b);
        case CT_LT: return at::lt(a, b);
        case CT_LE: return at::le(a, b);
        case CT_GT: return at::gt(a, b);
        case CT_GE: return at::ge(a, b);
        case CT_LOGICAL_AND: return at::logical_and(a, b);
        case CT_LOGICAL_OR: return at::logical_or(a, b);
        case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
    }
    TORCH_CHECK(false, "unknown binary op code ", op);
}
// A number as Python hands it to an operator: a wrapped 0-d CPU tensor, which promotes like a scalar
// (int tensor * 2.5 -> float32) and records the same autograd node as PyTorch (MulBackward0).
static at::Tensor wrapped(const at::Scalar &s) { return at::native::wrapped_scalar_tensor(s); }
static at::Tensor binary_scalar(int op, const at::Tensor &a, const at::Scalar &s) {
    switch (op) {
        // Python uses the Scalar overloads for these
        case CT_POW: return at::pow(a, s);
        case CT_REMAINDER: return at::remainder(a, s);
        case CT_EQ: return at::eq(a, s);
        case CT_NE: return at::ne(a, s);
        case CT_LT: return at::lt(a, s);
        case CT_LE: return at::le(a, s);
        case CT_GT: return at::gt(a, s);
        case CT_GE: return at::ge(a, s);
        default: return binary(op, a, wrapped(s));
    }
}
int ct_binary(int op, ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(binary(op, T(a), T(b))) }
int ct_binary_scalar(int op, ct_tensor a, double s, int is_int, ct_tensor *out) {
    CT_OUT(binary_scalar(op, T(a), scalar(s, is_int)))
}
int ct_scalar_binary(int op, double s, int is_int, ct_tensor b, ct_tensor *out) {
    CT_GUARD({
        auto sc = scalar(s, is_int);
        switch (op) {
            case CT_SUB: *out = wrap(at::rsub(T(b), sc)); break;
            case CT_POW: *out = wrap(at::pow(sc, T(b))); break;
            case CT_ADD: *out = wrap(at::add(T(b), wrapped(sc))); break;
            case CT_MUL: *out = wrap(at::mul(T(b), wrapped(sc))); break;
            // Python's s / t is t.reciprocal() * s
            case CT_DIV: *out = wrap(at::mul(at::reciprocal(T(b)), wrapped(sc))); break;
            default: *out = wrap(binary(op, wrapped(sc), T(b)));
        }
    })
}

static at::Tensor unary(int op, const at::Tensor &a) {
    switch (op) {
        case CT_NEG: return at::neg(a);
        case CT_ABS: return at::abs(a);
        case CT_EXP: return at::exp(a);
        case CT_LOG: return at::log(a);
        case CT_SQRT: return at::sqrt(a);
        case CT_RSQRT: return at::rsqrt(a);
        case CT_SIN: return at::sin(a);
        case CT_COS: return at::cos(a);
        case CT_TANH: return at::tanh(a);
        case CT_SIGMOID: return at::sigmoid(a);
        case CT_RELU: return at::relu(a);
        case CT_SILU: return at::silu(a);
        case CT_MISH: return at::mish(a);
        case CT_FLOOR: return at::floor(a);
        case CT_CEIL: return at::ceil(a);
        case CT_ROUND: return at::round(a);
        case CT_SIGN: return at::sign(a);
        case CT_RECIPROCAL: return at::reciprocal(a);
        case CT_LOG1P: return at::log1p(a);
        case CT_EXPM1: return at::expm1(a);
        case CT_SQUARE: return at::square(a);
        case CT_ISNAN: return at::isnan(a);
        case CT_ISINF: return at::isinf(a);
        case CT_ISFINITE: return at::isfinite(a);
        case CT_LOGICAL_NOT: return at::logical_not(a);
        case CT_ERF: return at::erf(a);
        case CT_ERFINV: return at::erfinv(a);
        case CT_TAN: return at::tan(a);
        case CT_LOG2: return at::log2(a);
    }
    TORCH_CHECK(false, "unknown unary op code ", op);
}
int ct_unary(int op, ct_tensor a, ct_tensor *out) { CT_OUT(unary(op, T(a))) }
int ct_gelu(ct_tensor a, int tanh_approx, ct_tensor *out) { CT_OUT(at::gelu(T(a), tanh_approx ? "tanh" : "none")) }
int ct_clamp(ct_tensor a, double lo, int has_lo, double hi, int has_hi, ct_tensor *out) {
    CT_OUT(at::clamp(T(a), has_lo ? std::optional<at::Scalar>(lo) : std::nullopt,
                     has_hi ? std::optional<at::Scalar>(hi) : std::nullopt))
}
int ct_where(ct_tensor c, ct_tensor a, ct_tensor b, ct_tensor *out) { CT_OUT(at::where(T(c), T(a), T(b))) }
int ct_masked_fill(ct_tensor a, ct_tensor m, double v, ct_tensor *out) { CT_OUT(at::masked_fill(T(a), T(m), v)) }
int ct_lerp(ct_tensor a, ct_tensor b, double w, ct_tensor *out) { CT_OUT(at::lerp(T(a), T(b), w)) }

int ct_copy_(ct_tensor dst, ct_tensor src) { CT_GUARD(T(dst).copy_(T(src))) }
int ct_set_data(ct_tensor t, ct_tensor src) { CT_GUARD(T(t).set_data(T(src))) }
int ct_fill_(ct_tensor t, double v) { CT_GUARD(T(t).fill_(v)) }
int ct_uniform_(ct_tensor t, double lo, double hi) { CT_GUARD(T(t).uniform_(lo, hi)) }
int ct_normal_(ct_tensor t, double mean, double std) { CT_GUARD(T(t).normal_(mean, std)) }
int ct_binary_(int op, ct_tensor a, ct_tensor b) {
    CT_GUARD({
        auto &x = T(a);
        switch (op) {
            case CT_ADD: x.add_(T(b)); break;
            case CT_SUB: x.sub_(T(b)); break;
            case CT_MUL: x.mul_(T(b)); break;
            case CT_DIV: x.div_(T(b)); break;
            default: TORCH_CHECK(false, "in-place binary op ", op, " is not supported");
        }
    })
}
int ct_binary_scalar_(int op, ct_tensor a, double s) {
    CT_GUARD({
        auto &x = T(a);
        switch (op) {
            case CT_ADD: x.add_(s); break;
            case CT_SUB: x.sub_(s); break;
            case CT_MUL: x.mul_(s); break;
            case CT_DIV: x.div_(s); break;
            default: TORCH_CHECK(false, "in-place scalar op ", op, " is not supported");
        }
    })
}
int ct_unary_(int op, ct_tensor a) {
    CT_GUARD({
        auto &x = T(a);
        switch (op) {
            case CT_ERFINV: x.erfinv_(); break;
            case CT_NEG: x.neg_(); break;
            case CT_EXP: x.exp_(); break;
            case CT_SQRT: x.sqrt_(); break;
            default: TORCH_CHECK(false, "in-place unary op ", op, " is not supported");
        }
    })
}
int ct_clamp_(ct_tensor a, double lo, int has_lo, double hi, int has_hi) {
    CT_GUARD(T(a).clamp_(has_lo ? std::optional<at::Scalar>(lo) : std::nullopt,
                         has_hi ? std::optional<at::Scalar>(hi) : std::nullopt))
}

}  // extern "C"
