// libtorch's own profiler (Kineto), as torch.profiler.profile drives it: prepare, enable, disable, save.
// Nothing is measured here; the shim only copies libtorch's events into a flat array the Swift side reads.
#include <ATen/Context.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <memory>
#include <set>
#include <string>
#include <vector>
#include "internal.h"

using namespace ctorch;
namespace prof = torch::autograd::profiler;

namespace {
// What ct_profiler_stop hands out: libtorch's result (for the trace) and a copy of its events whose
// name pointers stay valid as long as the handle lives.
struct Profile {
    std::unique_ptr<prof::ProfilerResult> result;
    std::vector<std::string> names;
    std::vector<ct_profile_event> events;
};

// A user range (torch.profiler.record_function): the name lives as long as the RecordFunction that
// points at it.
struct Range {
    std::string name;
    at::RecordFunction record{at::RecordScope::USER_SCOPE};
};
}  // namespace

extern "C" {

int ct_profiler_start(int record_shapes, int all_threads, int *cuda) {
    CT_GUARD({
        TORCH_CHECK(torch::profiler::impl::ProfilerStateBase::get() == nullptr, "the profiler is already running");
        std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
        *cuda = at::hasCUDA() ? 1 : 0;
        if (*cuda) activities.insert(prof::ActivityType::CUDA);
        torch::profiler::impl::ExperimentalConfig experimental;
        experimental.profile_all_threads = all_threads != 0;
        prof::ProfilerConfig config(prof::ProfilerState::KINETO, record_shapes != 0, /*profile_memory=*/false,
                                    /*with_stack=*/false, /*with_flops=*/false, /*with_modules=*/false,
                                    experimental);
        prof::prepareProfiler(config, activities);
        prof::enableProfiler(config, activities);
    })
}

int ct_profiler_stop(const char *trace_path, ct_profile *out) {
    CT_GUARD({
        // libtorch only warns and returns an empty result when nothing is running.
        TORCH_CHECK(torch::profiler::impl::ProfilerStateBase::get() != nullptr, "the profiler is not running");
        auto p = std::make_unique<Profile>();
        p->result = prof::disableProfiler();
        TORCH_CHECK(p->result, "the profiler returned no result (was it started on this thread?)");
        if (trace_path) p->result->save(trace_path);
        const auto &events = p->result->events();
        p->names.reserve(events.size());
        p->events.reserve(events.size());
        for (const auto &e : events) {
            p->names.push_back(e.name());
            ct_profile_event x{};
            x.thread = e.startThreadId();
            x.start_ns = static_cast<int64_t>(e.startNs());
            x.duration_ns = static_cast<int64_t>(e.durationNs());
            x.device_type = static_cast<int>(e.deviceType());
            x.is_async = e.isAsync() ? 1 : 0;
            x.correlation_id = static_cast<int64_t>(e.correlationId());
            x.linked_correlation_id = static_cast<int64_t>(e.linkedCorrelationId());
            p->events.push_back(x);
        }
        for (size_t i = 0; i < p->events.size(); i++) p->events[i].name = p->names[i].c_str();
        *out = p.release();
    })
}

int ct_profile_events(ct_profile p, const ct_profile_event **events, int64_t *count) {
    CT_GUARD({
        auto &profile = *static_cast<Profile *>(p);
        *events = profile.events.data();
        *count = static_cast<int64_t>(profile.events.size());
    })
}

void ct_profile_free(ct_profile p) { delete static_cast<Profile *>(p); }

// ProfilerStateBase::get() sees both kinds of session; profilerEnabled() misses an all-threads one.
int ct_profiler_enabled(void) { return torch::profiler::impl::ProfilerStateBase::get() != nullptr ? 1 : 0; }

int ct_record_range_enter(const char *name, ct_range *out) {
    CT_GUARD({
        auto r = std::make_unique<Range>();
        r->name = name;
        if (r->record.isActive()) r->record.before(std::string_view(r->name));
        *out = r.release();
    })
}

int ct_record_range_exit(ct_range r) {
    CT_GUARD({
        std::unique_ptr<Range> range(static_cast<Range *>(r));
        range->record.end();
    })
}

}  // extern "C"
