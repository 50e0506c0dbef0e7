// A thin C API over libtorch (ATen). Every function returns 0 on success and 1 on failure; on failure
// ct_last_error() returns libtorch's message (thread-local, valid until the next failing call).
// Tensors are opaque owned handles: every ct_tensor written to an `out` parameter must be freed with
// ct_free. Optional tensor arguments accept NULL. dtype codes are at::ScalarType's.
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *ct_tensor;
typedef void *ct_optimizer;

// ---- errors, runtime ----------------------------------------------------------------------------
const char *ct_last_error(void);
int ct_init(void);  // loads libtorch_cuda when present, so CUDA devices register
const char *ct_version(void);
// glibc only: serve large blocks from the heap and keep freed memory for reuse (1 if applied, 0 elsewhere).
int ct_keep_freed_memory(void);
// glibc only: bytes the heaps hold (arena), of which in use (in_use), and in separately mapped blocks (mmapped).
int ct_malloc_info(int64_t *arena, int64_t *in_use, int64_t *mmapped);
int ct_set_num_threads(int n);
int ct_get_num_threads(void);
int ct_cuda_device_count(void);
int ct_manual_seed(uint64_t seed);
int ct_rng_get_state(ct_tensor *out);
int ct_rng_set_state(ct_tensor state);
int ct_set_grad_enabled(int enabled, int *previous);
int ct_is_grad_enabled(void);
int ct_autocast_set(int device_type, int enabled, int dtype);
int ct_autocast_clear_cache(void);

// ---- activation checkpointing (ctorch_checkpoint.cpp) -------------------------------------------
// `fn(context, inputs, n_inputs, outputs, n_outputs)` computes a block: it owns (frees) the input handles
// and writes n_outputs new handles; 0 on success. ct_checkpoint runs it without keeping its activations
// and again in the backward pass (same RNG and autocast state) to differentiate it; `parameters` are the
// tensors the block reads besides its inputs, whose gradients flow through the checkpoint. `release(context)`
// is called once, when the graph no longer needs `fn` (or when this call fails).
typedef int (*ct_checkpoint_fn)(void *context, ct_tensor *inputs, int64_t n_inputs, ct_tensor *outputs,
                                int64_t n_outputs);
int ct_checkpoint(ct_checkpoint_fn fn, void *context, void (*release)(void *), const ct_tensor *inputs,
                  int64_t n_inputs, const ct_tensor *parameters, int64_t n_parameters, ct_tensor *outputs,
                  int64_t n_outputs);

// ---- handles and metadata -----------------------------------------------------------------------
void ct_free(ct_tensor t);
int ct_shallow_clone(ct_tensor t, ct_tensor *out);  // a second handle to the same tensor
int ct_ndim(ct_tensor t, int64_t *out);
int ct_sizes(ct_tensor t, int64_t *out);  // out holds ndim values
int ct_strides(ct_tensor t, int64_t *out);
int ct_dtype(ct_tensor t, int *out);
int ct_device(ct_tensor t, int *type, int *index);
int ct_numel(ct_tensor t, int64_t *out);
int ct_is_contiguous(ct_tensor t, int *out);
int ct_defined(ct_tensor t, int *out);

// ---- data in and out ----------------------------------------------------------------------------
int ct_from_data(const void *data, const int64_t *shape, int ndim, int dtype, ct_tensor *out);
int ct_copy_to_buffer(ct_tensor t, void *dst, size_t nbytes);  // any layout/device; dtype must match
int ct_item_double(ct_tensor t, double *out);
int ct_item_int64(ct_tensor t, int64_t *out);
int ct_to(ct_tensor t, int dtype, int device_type, int device_index, ct_tensor *out);
int ct_contiguous(ct_tensor t, ct_tensor *out);
int ct_clone(ct_tensor t, ct_tensor *out);

// ---- creation -------------------------------------------------------------------------------------
// device_type: 0 cpu, 1 cuda.
int ct_empty(const int64_t *shape, int ndim, int dtype, int dev, int idx, ct_tensor *out);
int ct_zeros(const int64_t *shape, int ndim, int dtype, int dev, int idx, ct_tensor *out);
int ct_ones(const int64_t *shape, int ndim, int dtype, int dev, int idx, ct_tensor *out);
int ct_full(const int64_t *shape, int ndim, double value, int dtype, int dev, int idx, ct_tensor *out);
int ct_arange(double start, double end, double step, int dtype, int dev, int idx, ct_tensor *out);
int ct_linspace(double start, double end, int64_t steps, int dtype, int dev, int idx, ct_tensor *out);
int ct_eye(int64_t n, int64_t m, int dtype, int dev, int idx, ct_tensor *out);
int ct_rand(const int64_t *shape, int ndim, int dtype, int dev, int idx, ct_tensor *out);
int ct_randn(const int64_t *shape, int ndim, int dtype, int dev, int idx, ct_tensor *out);
int ct_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, int dtype, int dev, int idx,
               ct_tensor *out);
int ct_randperm(int64_t n, int dtype, int dev, int idx, ct_tensor *out);
int ct_sample_dirichlet(ct_tensor concentration, ct_tensor *out);  // torch._sample_dirichlet
int ct_bernoulli(ct_tensor probabilities, ct_tensor *out);

// ---- element-wise ---------------------------------------------------------------------------------
// op codes for ct_binary / ct_binary_scalar (scalar on the right) / ct_scalar_binary (scalar on the left)
enum {
    CT_ADD = 0, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_MAXIMUM, CT_MINIMUM, CT_REMAINDER, CT_ATAN2,
    CT_EQ, CT_NE, CT_LT, CT_LE, CT_GT, CT_GE, CT_LOGICAL_AND, CT_LOGICAL_OR, CT_FLOOR_DIVIDE
};
int ct_binary(int op, ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_binary_scalar(int op, ct_tensor a, double s, int s_is_int, ct_tensor *out);
int ct_scalar_binary(int op, double s, int s_is_int, ct_tensor b, ct_tensor *out);

enum {
    CT_NEG = 0, CT_ABS, CT_EXP, CT_LOG, CT_SQRT, CT_RSQRT, CT_SIN, CT_COS, CT_TANH, CT_SIGMOID, CT_RELU,
    CT_SILU, CT_MISH, CT_FLOOR, CT_CEIL, CT_ROUND, CT_SIGN, CT_RECIPROCAL, CT_LOG1P, CT_EXPM1,
    CT_SQUARE, CT_ISNAN, CT_ISINF, CT_ISFINITE, CT_LOGICAL_NOT, CT_ERF, CT_ERFINV, CT_TAN, CT_LOG2
};
int ct_unary(int op, ct_tensor a, ct_tensor *out);
int ct_gelu(ct_tensor a, int tanh_approximation, ct_tensor *out);
int ct_clamp(ct_tensor a, double lo, int has_lo, double hi, int has_hi, ct_tensor *out);
int ct_where(ct_tensor cond, ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_masked_fill(ct_tensor a, ct_tensor mask, double value, ct_tensor *out);
int ct_lerp(ct_tensor a, ct_tensor b, double weight, ct_tensor *out);

// in place (used for initialisation and parameter surgery; call under no-grad for leaves)
int ct_copy_(ct_tensor dst, ct_tensor src);
// t.set_data(src): t keeps its identity (and requires_grad) but now holds src's storage, dtype and device,
// as `param.data = param.data.to(device)` in Module._apply.
int ct_set_data(ct_tensor t, ct_tensor src);
int ct_fill_(ct_tensor t, double value);
int ct_uniform_(ct_tensor t, double lo, double hi);
int ct_normal_(ct_tensor t, double mean, double std);
int ct_binary_(int op, ct_tensor a, ct_tensor b);  // a op= b
int ct_binary_scalar_(int op, ct_tensor a, double s);
int ct_unary_(int op, ct_tensor a);
int ct_clamp_(ct_tensor a, double lo, int has_lo, double hi, int has_hi);

// ---- linear algebra ---------------------------------------------------------------------------------
int ct_matmul(ct_tensor a, ct_tensor b, ct_tensor *out);
/// torch.linalg.solve(a, b): x with a @ x = b.
int ct_linalg_solve(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_bmm(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_mm(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_cdist(ct_tensor a, ct_tensor b, double p, ct_tensor *out);
// torch.linalg.eigh of a symmetric (…, n, n): eigenvalues ascending (…, n) and eigenvectors as columns.
int ct_linalg_eigh(ct_tensor a, ct_tensor *values, ct_tensor *vectors);

// ---- reductions -------------------------------------------------------------------------------------
// dims == NULL with ndims == 0 reduces over all dimensions. dtype < 0 keeps the default.
int ct_sum(ct_tensor a, const int64_t *dims, int ndims, int keepdim, int dtype, ct_tensor *out);
int ct_mean(ct_tensor a, const int64_t *dims, int ndims, int keepdim, ct_tensor *out);
int ct_prod(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out);
int ct_var(ct_tensor a, const int64_t *dims, int ndims, int64_t correction, int keepdim, ct_tensor *out);
int ct_max_all(ct_tensor a, ct_tensor *out);
int ct_min_all(ct_tensor a, ct_tensor *out);
int ct_max_dim(ct_tensor a, int64_t dim, int keepdim, ct_tensor *values, ct_tensor *indices);
int ct_min_dim(ct_tensor a, int64_t dim, int keepdim, ct_tensor *values, ct_tensor *indices);
int ct_argmax(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out);
int ct_argmin(ct_tensor a, int64_t dim, int has_dim, int keepdim, ct_tensor *out);
int ct_sort(ct_tensor a, int64_t dim, int descending, int stable, ct_tensor *values, ct_tensor *indices);
int ct_argsort(ct_tensor a, int64_t dim, int descending, int stable, ct_tensor *out);
int ct_topk(ct_tensor a, int64_t k, int64_t dim, int largest, int sorted, ct_tensor *values,
            ct_tensor *indices);
int ct_norm(ct_tensor a, double p, const int64_t *dims, int ndims, int keepdim, ct_tensor *out);
int ct_logsumexp(ct_tensor a, const int64_t *dims, int ndims, int keepdim, ct_tensor *out);
int ct_cumsum(ct_tensor a, int64_t dim, ct_tensor *out);
int ct_all(ct_tensor a, ct_tensor *out);
int ct_any(ct_tensor a, ct_tensor *out);

// ---- shapes ------------------------------------------------------------------------------------------
int ct_reshape(ct_tensor a, const int64_t *shape, int ndim, ct_tensor *out);
int ct_view(ct_tensor a, const int64_t *shape, int ndim, ct_tensor *out);
int ct_permute(ct_tensor a, const int64_t *dims, int ndim, ct_tensor *out);
int ct_transpose(ct_tensor a, int64_t d0, int64_t d1, ct_tensor *out);
int ct_flatten(ct_tensor a, int64_t start, int64_t end, ct_tensor *out);
int ct_squeeze(ct_tensor a, int64_t dim, int has_dim, ct_tensor *out);
int ct_unsqueeze(ct_tensor a, int64_t dim, ct_tensor *out);
int ct_expand(ct_tensor a, const int64_t *shape, int ndim, ct_tensor *out);
int ct_repeat(ct_tensor a, const int64_t *repeats, int ndim, ct_tensor *out);
int ct_flip(ct_tensor a, const int64_t *dims, int ndims, ct_tensor *out);
int ct_cat(const ct_tensor *ts, int n, int64_t dim, ct_tensor *out);
int ct_stack(const ct_tensor *ts, int n, int64_t dim, ct_tensor *out);
// split/chunk write up to `capacity` handles into outs and the count into n_out
int ct_split(ct_tensor a, int64_t size, int64_t dim, ct_tensor *outs, int capacity, int *n_out);
int ct_split_sizes(ct_tensor a, const int64_t *sizes, int nsizes, int64_t dim, ct_tensor *outs, int capacity,
                   int *n_out);
int ct_chunk(ct_tensor a, int64_t chunks, int64_t dim, ct_tensor *outs, int capacity, int *n_out);
int ct_tril(ct_tensor a, int64_t diagonal, ct_tensor *out);
int ct_triu(ct_tensor a, int64_t diagonal, ct_tensor *out);
int ct_diag_embed(ct_tensor a, ct_tensor *out);
int ct_diagonal(ct_tensor a, ct_tensor *out);

// ---- indexing ----------------------------------------------------------------------------------------
int ct_slice(ct_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step, ct_tensor *out);
int ct_select(ct_tensor a, int64_t dim, int64_t index, ct_tensor *out);
int ct_index_select(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor *out);
int ct_index(ct_tensor a, const ct_tensor *indices, int n, ct_tensor *out);  // a[i0, i1, ...], NULL = ':'
int ct_index_put(ct_tensor a, const ct_tensor *indices, int n, ct_tensor values, int accumulate,
                 ct_tensor *out);
int ct_gather(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor *out);
int ct_scatter(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor src, ct_tensor *out);
// reduce: "sum", "prod", "mean", "amax", "amin"
int ct_scatter_reduce(ct_tensor a, int64_t dim, ct_tensor index, ct_tensor src, const char *reduce,
                      int include_self, ct_tensor *out);
int ct_masked_select(ct_tensor a, ct_tensor mask, ct_tensor *out);
int ct_nonzero(ct_tensor a, ct_tensor *out);

// ---- neural-network functions -------------------------------------------------------------------------
int ct_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor *out);
int ct_conv1d(ct_tensor x, ct_tensor w, ct_tensor b, int64_t stride, int64_t padding, int64_t dilation,
              int64_t groups, ct_tensor *out);
int ct_conv_transpose1d(ct_tensor x, ct_tensor w, ct_tensor b, int64_t stride, int64_t padding,
                        int64_t output_padding, int64_t groups, int64_t dilation, ct_tensor *out);
int ct_layer_norm(ct_tensor x, const int64_t *shape, int ndim, ct_tensor w, ct_tensor b, double eps,
                  ct_tensor *out);
int ct_group_norm(ct_tensor x, int64_t groups, ct_tensor w, ct_tensor b, double eps, ct_tensor *out);
int ct_softmax(ct_tensor x, int64_t dim, ct_tensor *out);
int ct_log_softmax(ct_tensor x, int64_t dim, ct_tensor *out);
int ct_dropout(ct_tensor x, double p, int train, ct_tensor *out);
// scale < 0 means the default 1/sqrt(head_dim)
int ct_sdpa(ct_tensor q, ct_tensor k, ct_tensor v, ct_tensor mask, double dropout_p, int is_causal,
            double scale, ct_tensor *out);
// reduction: 0 none, 1 mean, 2 sum. target: class indices (int64) or probabilities.
int ct_cross_entropy(ct_tensor logits, ct_tensor target, int reduction, int64_t ignore_index,
                     double label_smoothing, ct_tensor *out);
int ct_mse_loss(ct_tensor a, ct_tensor b, int reduction, ct_tensor *out);
int ct_l1_loss(ct_tensor a, ct_tensor b, int reduction, ct_tensor *out);
int ct_cosine_similarity(ct_tensor a, ct_tensor b, int64_t dim, double eps, ct_tensor *out);
int ct_embedding(ct_tensor weight, ct_tensor indices, ct_tensor *out);

// ---- autograd ------------------------------------------------------------------------------------------
int ct_requires_grad(ct_tensor t, int *out);
int ct_set_requires_grad(ct_tensor t, int requires_grad);
int ct_backward(ct_tensor t, ct_tensor grad, int retain_graph);
int ct_grad(ct_tensor t, ct_tensor *out);  // *out = NULL when no gradient exists
int ct_zero_grad(ct_tensor t, int set_to_none);
int ct_detach(ct_tensor t, ct_tensor *out);
int ct_clip_grad_norm(const ct_tensor *params, int n, double max_norm, double norm_type, double *total_norm);
// The class name of the node that made t ("MulBackward0"), or NULL for a leaf; valid until the next call.
int ct_grad_fn_name(ct_tensor t, const char **out);

// ---- AdamW (torch::optim::AdamW) ----------------------------------------------------------------------
// Parameters are given group after group; group_sizes[g] of them belong to group g.
int ct_adamw_new(const ct_tensor *params, const int64_t *group_sizes, int ngroups, const double *lrs,
                 const double *weight_decays, double beta1, double beta2, double eps, ct_optimizer *out);
void ct_adamw_free(ct_optimizer opt);
int ct_adamw_step(ct_optimizer opt);
int ct_adamw_zero_grad(ct_optimizer opt, int set_to_none);
int ct_adamw_set_group(ct_optimizer opt, int group, double lr, double beta1, double beta2,
                       double weight_decay);
int ct_adamw_get_group(ct_optimizer opt, int group, double *lr, double *beta1, double *beta2,
                       double *weight_decay);
// *has_state = 0 before the parameter's first step.
int ct_adamw_get_state(ct_optimizer opt, ct_tensor param, int *has_state, int64_t *step, ct_tensor *exp_avg,
                       ct_tensor *exp_avg_sq);
int ct_adamw_set_state(ct_optimizer opt, ct_tensor param, int64_t step, ct_tensor exp_avg,
                       ct_tensor exp_avg_sq);

// ---- profiler (libtorch's Kineto profiler; ctorch_profiler.cpp) ----------------------------------------
// As torch.profiler.profile: start records CPU ops (and CUDA activities when libtorch's CUDA is loaded,
// reported in *cuda), stop ends recording on the same thread, writes the Chrome trace JSON to trace_path
// (NULL: none) and returns the events. all_threads also records ops run on threads other than the caller's.
typedef void *ct_profile;
typedef void *ct_range;
typedef struct {
    const char *name;        // "aten::mm"; valid until ct_profile_free
    uint64_t thread;         // the thread the event started on
    int64_t start_ns;        // on libtorch's profiler clock
    int64_t duration_ns;
    int device_type;         // c10::DeviceType: 0 cpu, 1 cuda
    int is_async;
    int64_t correlation_id;  // links a CPU launch to its GPU kernel (linked_correlation_id on the kernel)
    int64_t linked_correlation_id;
} ct_profile_event;
int ct_profiler_start(int record_shapes, int all_threads, int *cuda);
int ct_profiler_stop(const char *trace_path, ct_profile *out);
int ct_profile_events(ct_profile p, const ct_profile_event **events, int64_t *count);
void ct_profile_free(ct_profile p);
int ct_profiler_enabled(void);
// A named range in the trace (torch.profiler.record_function); exit frees it.
int ct_record_range_enter(const char *name, ct_range *out);
int ct_record_range_exit(ct_range r);


// ---- c10d: TCP store and Gloo process group (ctorch_dist.cpp) ---------------------------------------
// torch.distributed's pieces. The master's store listens on port (0: a free one, ct_store_port tells
// which); the others connect to host:port, retrying until timeout_ms. prefix (may be NULL) scopes the keys.
typedef void *ct_store;
typedef void *ct_process_group;
typedef void *ct_heartbeat;
typedef void *ct_reducer;
int ct_tcp_store_create(const char *host, int port, int is_master, int world_size, const char *prefix,
                        int64_t timeout_ms, ct_store *out);
void ct_store_free(ct_store s);
int ct_store_port(ct_store s, int *out);
int ct_store_set(ct_store s, const char *key, const void *value, size_t n);
int ct_store_get(ct_store s, const char *key, void *buffer, size_t capacity, size_t *length);
int ct_store_add(ct_store s, const char *key, int64_t delta, int64_t *out);
// Adds 1 to `heartbeat/<rank>` every interval_ms on a thread with its own connection; stop joins it.
int ct_heartbeat_start(const char *host, int port, const char *prefix, int rank, int64_t interval_ms,
                       ct_heartbeat *out);
void ct_heartbeat_stop(ct_heartbeat h);
// Collectives wait for completion and fail (a lost peer, the timeout) with c10d's message.
int ct_pg_gloo_create(ct_store s, int rank, int world_size, int64_t timeout_ms, ct_process_group *out);
// c10d's NCCL group (CUDA tensors): only in a shim built against a CUDA libtorch with nccl.h (Package.swift);
// available says whether this one was, create fails otherwise.
int ct_pg_nccl_available(void);
int ct_pg_nccl_create(ct_store s, int rank, int world_size, int64_t timeout_ms, ct_process_group *out);
void ct_pg_free(ct_process_group g);
int ct_pg_allreduce_sum(ct_process_group g, ct_tensor *tensors, int n);  // each in place, contiguous
int ct_pg_allgather(ct_process_group g, ct_tensor input, ct_tensor *out);  // ranks' inputs cat on dim 0
int ct_pg_broadcast(ct_process_group g, ct_tensor t, int root);
int ct_pg_barrier(ct_process_group g, int64_t timeout_ms);  // 0: the group's timeout
// DistributedDataParallel's gradient reducer (c10d::Reducer) over leaves that require grad, in DDP's buckets
// (the first parameters' bucket first_bucket_bytes, the others bucket_bytes). find_unused: DDP's
// find_unused_parameters (a parameter no rank's loss reached keeps no gradient).
int ct_reducer_create(ct_process_group g, ct_tensor *params, int n, int64_t first_bucket_bytes, int64_t bucket_bytes,
                      int find_unused, ct_reducer *out);
void ct_reducer_free(ct_reducer r);
// The buckets' sizes in bytes, in all-reduce order (count: how many; at most capacity written).
int ct_reducer_buckets(ct_reducer r, int64_t *bytes, int capacity, int *count);
// loss.backward() with every gradient averaged over the group when it returns, the buckets all-reduced while
// backward runs; exposed_seconds: from the last gradient ready to the end (the all-reduce left unhidden).
int ct_reducer_backward(ct_reducer r, ct_tensor loss, double *exposed_seconds);
// Dropout of this rank's rows of a global batch of world * b rows, x being its b rows in parts of parts[s] rows
// (nparts 0: one part), each part's global rows rank after rank (GlobalBatch).
int ct_dropout_global_rows(ct_tensor x, double p, int rank, int world, const int64_t *parts, int nparts, ct_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
