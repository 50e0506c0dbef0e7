// c10d, PyTorch's distributed engine, as libtorch_cpu.so ships it: the TCP store and the Gloo process group.
// Nothing here communicates by itself; every collective is c10d's.
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
        *out = g.release();
    })
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

// at::dropout's arithmetic on CPU (noise = empty_like(x).bernoulli_(1 - p); noise /= 1 - p; x * noise), with the
// noise drawn for `world` times x's rows (dim 0) and x taking rows [rank * b, (rank + 1) * b): a rank of a data-
// parallel step draws what one process would for the global batch, and uses its own slice.
int ct_dropout_global_rows(ct_tensor x, double p, int rank, int world, ct_tensor *out) {
    CT_GUARD({
        const auto &input = T(x);
        TORCH_CHECK(input.dim() >= 1 && world >= 1 && rank >= 0 && rank < world, "dropout over a global batch: rank ",
                    rank, " of ", world, " for a tensor of ", input.dim(), " dims");
        if (p == 1) {  // as at::dropout: no draw
            *out = wrap(input * at::zeros({}, input.options()));
            return 0;
        }
        auto shape = input.sizes().vec();
        const int64_t b = shape[0];
        shape[0] = b * world;
        auto noise = at::empty(shape, input.options()).bernoulli_(1 - p);
        noise.div_(1 - p);
        *out = wrap(input * noise.narrow(0, rank * b, b));
    })
}

}  // extern "C"
