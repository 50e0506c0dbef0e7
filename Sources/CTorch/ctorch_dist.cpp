// c10d, PyTorch's distributed engine, as libtorch_cpu.so ships it: the TCP store, the Gloo process group and
// DistributedDataParallel's gradient reducer. Nothing here communicates by itself; every collective is c10d's.
//
// ProcessGroupGloo.hpp includes gloo's headers, which the wheel does not ship; Debian's libgloo-dev provides
// them (an older gloo than libtorch's). That is safe because this file only calls libtorch's out-of-line,
// exported functions (Options::create_default, the constructor, Backend's virtual collectives): it defines
// and references no gloo symbol, and ProcessGroupGloo holds gloo objects only through pointers, so its size
// does not depend on the gloo version. docs/distributed.md has the check (sizes against libtorch's own
// allocations, `nm` of this object).
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef CTORCH_NCCL  // Package.swift: libtorch_cuda.so, nccl.h and the CUDA headers were found
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include "internal.h"

using namespace ctorch;
using std::chrono::milliseconds;

namespace {
struct Store {
    c10::intrusive_ptr<c10d::Store> store;
    std::string host;
    int port = 0;
};
struct Group {
    c10::intrusive_ptr<c10d::Backend> backend;
    // The same backend as a ProcessGroup (what init_process_group returns), which the Reducer takes.
    c10::intrusive_ptr<c10d::ProcessGroup> group;
};
int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// c10d::Reducer, as DistributedDataParallel builds it, plus a post-hook of our own on every parameter's gradient
// accumulator (after the Reducer's) that notes when the last gradient of a backward was ready: the time from
// then to the end of backward is the all-reduce that backward did not hide.
struct Reducer {
    std::shared_ptr<c10d::Reducer> reducer;
    // DDP's logger, which the Reducer assumes it has: it reports through it, unchecked, when the set of unused
    // parameters changes between steps (a null dereference without one).
    std::shared_ptr<c10d::Logger> logger;
    bool find_unused = true;
    std::vector<int64_t> bucket_bytes;
    std::vector<std::pair<c10::intrusive_ptr<torch::autograd::Node>, uintptr_t>> hooks;
    std::atomic<int64_t> last_ready{0};
    ~Reducer() {
        for (auto &[node, key] : hooks) node->del_post_hook(key);
        logger.reset();
        reducer.reset();  // removes its own hooks
    }
};
// Drops libtorch's warnings while the Reducer prepares a backward: with find_unused_parameters it warns once,
// on stderr, when a step happens to use every parameter (DDP's advice to turn the search off).
struct QuietWarnings : c10::WarningHandler {
    void process(const c10::Warning &) override {}
};
// A thread that increments `heartbeat/<rank>` in the store every interval, over its own connection, so that
// after a failed collective the survivors can tell which ranks stopped beating.
struct Heartbeat {
    std::thread thread;
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
    ~Heartbeat() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stop = true;
        }
        cv.notify_all();
        if (thread.joinable()) thread.join();
    }
};
Store &S(ct_store s) { return *static_cast<Store *>(s); }
c10d::Backend &G(ct_process_group g) { return *static_cast<Group *>(g)->backend; }
std::vector<uint8_t> bytes(const void *p, size_t n) {
    auto b = static_cast<const uint8_t *>(p);
    return std::vector<uint8_t>(b, b + n);
}
}  // namespace

extern "C" {

int ct_tcp_store_create(const char *host, int port, int is_master, int world_size, const char *prefix,
                        int64_t timeout_ms, ct_store *out) {
    CT_GUARD({
        TORCH_CHECK(port >= 0 && port < 65536, "port ", port, " is not within 0...65535");
        c10d::TCPStoreOptions o;
        o.port = static_cast<uint16_t>(port);
        o.isServer = is_master != 0;
        o.numWorkers = is_master ? std::optional<size_t>(static_cast<size_t>(world_size)) : std::nullopt;
        o.waitWorkers = false;
        o.timeout = milliseconds(timeout_ms);
        auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
        auto s = std::make_unique<Store>();
        s->host = host;
        s->port = tcp->getPort();
        s->store = prefix && *prefix ? c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::PrefixStore>(prefix, tcp))
                                     : c10::intrusive_ptr<c10d::Store>(tcp);
        *out = s.release();
    })
}

void ct_store_free(ct_store s) { delete static_cast<Store *>(s); }

int ct_store_port(ct_store s, int *out) { CT_GUARD(*out = S(s).port) }

int ct_store_set(ct_store s, const char *key, const void *value, size_t n) {
    CT_GUARD(S(s).store->set(key, bytes(value, n)))
}

// Waits (up to the store's timeout) for `key`; copies at most `capacity` bytes and writes the full length.
int ct_store_get(ct_store s, const char *key, void *buffer, size_t capacity, size_t *length) {
    CT_GUARD({
        auto v = S(s).store->get(key);
        *length = v.size();
        std::memcpy(buffer, v.data(), std::min(capacity, v.size()));
    })
}

int ct_store_add(ct_store s, const char *key, int64_t delta, int64_t *out) {
    CT_GUARD(*out = S(s).store->add(key, delta))
}

int ct_heartbeat_start(const char *host, int port, const char *prefix, int rank, int64_t interval_ms,
                       ct_heartbeat *out) {
    CT_GUARD({
        c10d::TCPStoreOptions o;
        o.port = static_cast<uint16_t>(port);
        o.isServer = false;
        o.waitWorkers = false;
        o.timeout = milliseconds(std::max<int64_t>(interval_ms * 4, 1000));
        c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
        if (prefix && *prefix) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
        auto h = std::make_unique<Heartbeat>();
        std::string key = "heartbeat/" + std::to_string(rank);
        Heartbeat *raw = h.get();
        h->thread = std::thread([raw, store, key, interval_ms] {
            std::unique_lock<std::mutex> lock(raw->mutex);
            while (!raw->stop) {
                try {
                    store->add(key, 1);
                } catch (...) {
                    return;  // the store's host is gone: nothing left to tell
                }
                raw->cv.wait_for(lock, milliseconds(interval_ms), [raw] { return raw->stop; });
            }
        });
        *out = h.release();
    })
}

void ct_heartbeat_stop(ct_heartbeat h) { delete static_cast<Heartbeat *>(h); }

int ct_pg_gloo_create(ct_store s, int rank, int world_size, int64_t timeout_ms, ct_process_group *out) {
    CT_GUARD({
        TORCH_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rank ", rank, " is not within world size ",
                    world_size);
        // As torch.distributed: devices from GLOO_SOCKET_IFNAME when set, else this host's name (or loopback),
        // two worker threads per device.
        auto options = c10d::ProcessGroupGloo::Options::create_default(milliseconds(timeout_ms));
        auto g = std::make_unique<Group>();
        g->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(S(s).store, rank, world_size, options);
        g->group = c10::make_intrusive<c10d::ProcessGroup>(S(s).store, rank, world_size);
        g->group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, g->backend);
        g->group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
        *out = g.release();
    })
}

int ct_pg_nccl_available(void) {
#ifdef CTORCH_NCCL
    return 1;
#else
    return 0;
#endif
}

int ct_pg_nccl_create(ct_store s, int rank, int world_size, int64_t timeout_ms, ct_process_group *out) {
#ifdef CTORCH_NCCL
    CT_GUARD({
        TORCH_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rank ", rank, " is not within world size ",
                    world_size);
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = milliseconds(timeout_ms);
        auto g = std::make_unique<Group>();
        g->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(S(s).store, rank, world_size, options);
        g->group = c10::make_intrusive<c10d::ProcessGroup>(S(s).store, rank, world_size);
        g->group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, g->backend);
        g->group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
        *out = g.release();
    })
#else
    (void)s, (void)rank, (void)world_size, (void)timeout_ms, (void)out;
    ctorch::set_error("this shim was built without c10d's NCCL backend (Package.swift compiles it when libtorch_cuda.so, "
                      "nccl.h and cuda_runtime_api.h are found beside libtorch)");
    return 1;
#endif
}

void ct_pg_free(ct_process_group g) { delete static_cast<Group *>(g); }

int ct_pg_allreduce_sum(ct_process_group g, ct_tensor *tensors, int n) {
    CT_GUARD({
        for (int i = 0; i < n; i++) {
            std::vector<at::Tensor> one{T(tensors[i])};
            TORCH_CHECK(one[0].is_contiguous(), "all_reduce needs contiguous tensors");
            c10d::AllreduceOptions o;
            o.reduceOp = c10d::ReduceOp::SUM;
            G(g).allreduce(one, o)->wait();
        }
    })
}

int ct_pg_allgather(ct_process_group g, ct_tensor input, ct_tensor *out) {
    CT_GUARD({
        auto in = T(input).contiguous();
        std::vector<at::Tensor> inputs{in};
        std::vector<std::vector<at::Tensor>> outputs(1);
        for (int r = 0; r < G(g).getSize(); r++) outputs[0].push_back(at::empty_like(in));
        G(g).allgather(outputs, inputs)->wait();
        *out = wrap(at::cat(outputs[0], 0));
    })
}

int ct_pg_broadcast(ct_process_group g, ct_tensor t, int root) {
    CT_GUARD({
        std::vector<at::Tensor> one{T(t)};
        TORCH_CHECK(one[0].is_contiguous(), "broadcast needs a contiguous tensor");
        c10d::BroadcastOptions o;
        o.rootRank = root;
        G(g).broadcast(one, o)->wait();
    })
}

int ct_pg_barrier(ct_process_group g, int64_t timeout_ms) {
    CT_GUARD({
        c10d::BarrierOptions o;
        if (timeout_ms > 0) o.timeout = milliseconds(timeout_ms);
        G(g).barrier(o)->wait();
    })
}

// DistributedDataParallel's construction of its Reducer (torch/nn/parallel/distributed.py, _ddp_init_helper):
// buckets by compute_bucket_assignment_by_size in parameter order, the first of first_bucket_bytes and the others
// of bucket_bytes, then reversed, since gradients become ready roughly from the last parameter to the first; the
// small bucket of the first parameters is then the last to be all-reduced, after backward ends.
int ct_reducer_create(ct_process_group g, ct_tensor *params, int n, int64_t first_bucket_bytes, int64_t bucket_bytes,
                      int find_unused, ct_reducer *out) {
    CT_GUARD({
        TORCH_CHECK(n > 0, "a gradient reducer needs at least one parameter");
        std::vector<at::Tensor> ps;
        for (int i = 0; i < n; i++) {
            ps.push_back(T(params[i]));
            TORCH_CHECK(ps.back().requires_grad() && ps.back().is_leaf(), "parameter ", i,
                        " of the gradient reducer is not a leaf that requires grad");
        }
        // (no top-level commas: this is a macro argument)
        std::vector<size_t> limits(1, static_cast<size_t>(first_bucket_bytes));
        limits.push_back(static_cast<size_t>(bucket_bytes));
        auto assignment = c10d::compute_bucket_assignment_by_size(ps, limits, std::vector<bool>(n, false));
        auto indices = std::get<0>(assignment);
        auto sizes = std::get<1>(assignment);
        std::reverse(indices.begin(), indices.end());
        std::reverse(sizes.begin(), sizes.end());
        auto r = std::make_unique<Reducer>();
        r->find_unused = find_unused != 0;
        for (const auto &bucket : indices) {
            int64_t bytes = 0;
            for (auto i : bucket) bytes += ps[i].numel() * ps[i].element_size();
            r->bucket_bytes.push_back(bytes);
        }
        r->reducer = std::make_shared<c10d::Reducer>(
            ps, indices, static_cast<Group *>(g)->group, std::vector<bool>(n, false), bucket_bytes, r->find_unused,
            /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{}, first_bucket_bytes,
            /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
            std::vector<int64_t>(sizes.begin(), sizes.end()));
        r->logger = std::make_shared<c10d::Logger>(r->reducer);
        r->reducer->set_logger(r->logger);
        Reducer *raw = r.get();
        for (auto &p : ps) {
            auto node = torch::autograd::impl::grad_accumulator(p);
            auto key = node->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
                [raw](const torch::autograd::variable_list &outputs, const torch::autograd::variable_list &) {
                    raw->last_ready.store(now_ns());
                    return outputs;
                }));
            r->hooks.emplace_back(node, key);
        }
        *out = r.release();
    })
}

void ct_reducer_free(ct_reducer r) { delete static_cast<Reducer *>(r); }

int ct_reducer_buckets(ct_reducer r, int64_t *bytes, int capacity, int *count) {
    CT_GUARD({
        const auto &b = static_cast<Reducer *>(r)->bucket_bytes;
        *count = static_cast<int>(b.size());
        std::copy_n(b.begin(), std::min<size_t>(b.size(), std::max(capacity, 0)), bytes);
    })
}

// DDP's step: prepare_for_forward and prepare_for_backward (given the loss, so that find_unused_parameters can
// walk its graph), then loss.backward(): the Reducer's hooks all-reduce each bucket (divided by the world size)
// as its gradients become ready, and its final callback waits for them and writes the averages into .grad
// before backward returns.
int ct_reducer_backward(ct_reducer r, ct_tensor loss, double *exposed_seconds) {
    CT_GUARD({
        auto &red = *static_cast<Reducer *>(r);
        const auto &l = T(loss);
        {
            QuietWarnings quiet;
            c10::WarningUtils::WarningHandlerGuard guard(&quiet);
            red.reducer->prepare_for_forward();
            red.reducer->prepare_for_backward(red.find_unused ? std::vector<at::Tensor>{l} : std::vector<at::Tensor>{});
        }
        red.last_ready.store(0);
        l.backward();
        const int64_t end = now_ns();
        const int64_t last = red.last_ready.load();
        *exposed_seconds = last > 0 ? static_cast<double>(end - last) * 1e-9 : 0;
    })
}

// at::dropout's arithmetic on CPU (noise = empty_like(x).bernoulli_(1 - p); noise /= 1 - p; x * noise), with the
// noise drawn for the global batch, `world` times x's rows (dim 0), and x taking this rank's rows of it: a rank of
// a data-parallel step draws what one process would for the global batch, and uses its own rows. x holds
// `nparts` parts of parts[s] rows (one part of all its rows when nparts is 0); the global batch is the parts one
// after another, part s of world * parts[s] rows, rank after rank.
int ct_dropout_global_rows(ct_tensor x, double p, int rank, int world, const int64_t *parts, int nparts, ct_tensor *out) {
    CT_GUARD({
        const auto &input = T(x);
        TORCH_CHECK(input.dim() >= 1 && world >= 1 && rank >= 0 && rank < world, "dropout over a global batch: rank ",
                    rank, " of ", world, " for a tensor of ", input.dim(), " dims");
        const int64_t b = input.size(0);
        std::vector<int64_t> sizes = nparts > 0 ? std::vector<int64_t>(parts, parts + nparts) : std::vector<int64_t>{b};
        int64_t total = 0;
        for (auto n : sizes) total += n;
        TORCH_CHECK(total == b, "dropout over a global batch: parts of ", total, " rows for a tensor of ", b, " rows");
        if (p == 1) {  // as at::dropout: no draw
            *out = wrap(input * at::zeros({}, input.options()));
            return 0;
        }
        auto shape = input.sizes().vec();
        shape[0] = b * world;
        auto noise = at::empty(shape, input.options()).bernoulli_(1 - p);
        noise.div_(1 - p);
        std::vector<at::Tensor> mine;
        int64_t start = 0;  // part s's first row in the global batch
        for (auto n : sizes) {
            mine.push_back(noise.narrow(0, start + rank * n, n));
            start += world * n;
        }
        *out = wrap(input * (mine.size() == 1 ? mine[0] : at::cat(mine, 0)));
    })
}

}  // extern "C"
