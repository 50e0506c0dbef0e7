// The shim is compiled as this one translation unit (Package.swift: `sources: ["ctorch_unity.cpp"]`). Each of
// its files includes ATen's headers, which take 10 to 16 CPU-seconds to parse: six translation units cost about
// 96 CPU-seconds at -O2 -g, this one about 32, a minute less in every fresh build (`make demo` builds from
// scratch on 2 cores). The files stay separate for reading; none defines a file-local name another defines.
#include "ctorch.cpp"
#include "ctorch_checkpoint.cpp"
#include "ctorch_dist.cpp"
#include "ctorch_ops.cpp"
#include "ctorch_optim.cpp"
#include "ctorch_profiler.cpp"
