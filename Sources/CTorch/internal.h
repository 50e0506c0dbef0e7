// Shared helpers of the shim: the error slot and the one guard every entry point uses.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <string>
#include "ctorch.h"

namespace ctorch {
void set_error(const std::string &message);

inline at::Tensor &T(ct_tensor t) { return *static_cast<at::Tensor *>(t); }
inline ct_tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }
inline std::optional<at::Tensor> opt(ct_tensor t) {
    return t ? std::optional<at::Tensor>(T(t)) : std::nullopt;
}
inline at::IntArrayRef ints(const int64_t *p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }
inline at::Device device(int type, int index) {
    return type == 1 ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index)) : at::Device(at::kCPU);
}
inline at::TensorOptions options(int dtype, int dev, int idx) {
    return at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)).device(device(dev, idx));
}
inline at::Scalar scalar(double v, int is_int) {
    return is_int ? at::Scalar(static_cast<int64_t>(v)) : at::Scalar(v);
}
}  // namespace ctorch

// Every entry point: run the body, turn any C++ exception into status 1 plus a stored message.
#define CT_GUARD(body)                                                   \
    try {                                                                \
        body;                                                            \
        return 0;                                                        \
    } catch (const c10::Error &e) {                                      \
        ctorch::set_error(e.what_without_backtrace());                   \
    } catch (const std::exception &e) {                                  \
        ctorch::set_error(e.what());                                     \
    } catch (...) {                                                      \
        ctorch::set_error("unknown C++ exception");                      \
    }                                                                    \
    return 1;
#define CT_OUT(expr) CT_GUARD(*out = ctorch::wrap(expr))
