// Benchmarks of the Swift layers (tensor-call overhead, data loading, training steps; docs/benchmarks.md):
// `swift run -c release voxelformer-bench [--filter NAME ...] [--list]`.
// Prints one markdown table of the selected benchmarks' rows (all of them by default).
import Foundation

/// Every benchmark, in table order. New rows: add a `Benchmark` here (or to a list like this one).
let allBenchmarks: [Benchmark] = TensorOverhead.benchmarks + DataLoading.benchmarks + TrainingStep.benchmarks
    + PriorStep.benchmarks + CLIPEncode.benchmarks + DataParallelStep.benchmarks

// A child started by `isolated(_:_:)`: run that one benchmark, print its rows for the parent. It ends with
// its parent: a bench stopped with Ctrl-C or kill would otherwise leave its child running (its command line
// is /proc/self/exe, so `pkill -f voxelformer-bench` misses it) and loading the machine for the next run.
// A child started by hand (the variable set in a shell, docs/profiling.md) has no parent to watch.
if let name = isolatedName {
    if let parent = ProcessInfo.processInfo.environment[parentVariable].flatMap({ Int32($0) }) {
        Thread.detachNewThread {
            while getppid() == parent { sleep(1) }
            FileHandle.standardError.write(Data("\(isolationVariable)=\(name): the bench that started this process (\(parent)) ended\n".utf8))
            _exit(1)  // not exit(): its static destructors would unregister libtorch's operators under the running step
        }
    }
    guard let benchmark = allBenchmarks.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("\(isolationVariable)=\(name): no such benchmark\n".utf8))
        exit(2)
    }
    for row in benchmark.run() { print(serialise(row)) }
    exit(0)
}

let usage = """
    usage: voxelformer-bench [--filter NAME]... [NAME]... [--json PATH] [--pairs N] [--profile DIR] [--list]
      NAME      run only the benchmarks whose name contains NAME (any of them); all when none is given
      --json    where the rows go as JSON as well (default runs/bench/results.json)
      --pairs   Swift/PyTorch pairs per training row, alternated; the table gives the medians (default 1)
      --profile the training rows record their timed steps with libtorch's profiler, both sides: DIR/<row>-swift.json
                and DIR/<row>-pytorch.json (Chrome traces), top-10 operator tables in DIR/<row>-{swift,pytorch}.md
      --list    list the benchmarks and exit
    """

var filters: [String] = []
var jsonPath = "runs/bench/results.json"
/// Swift/PyTorch pairs per training row (`--pairs N`); the table gives the medians.
nonisolated(unsafe) var benchPairs = 1
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
    switch arg {
    case "--filter":
        guard let name = arguments.popFirst() else {
            FileHandle.standardError.write(Data("--filter needs a name\n\(usage)\n".utf8))
            exit(2)
        }
        filters.append(name)
    case "--json":
        guard let path = arguments.popFirst() else {
            FileHandle.standardError.write(Data("--json needs a path\n\(usage)\n".utf8))
            exit(2)
        }
        jsonPath = path
    case "--pairs":
        guard let text = arguments.popFirst(), let n = Int(text), n >= 1 else {
            FileHandle.standardError.write(Data("--pairs needs a count of at least 1\n\(usage)\n".utf8))
            exit(2)
        }
        benchPairs = n
    case "--profile":
        guard let dir = arguments.popFirst() else {
            FileHandle.standardError.write(Data("--profile needs a folder\n\(usage)\n".utf8))
            exit(2)
        }
        // the children (`isolated`) inherit it through the environment
        let absolute = URL(fileURLWithPath: dir).standardizedFileURL.path
        try? FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
        setenv(profileVariable, absolute, 1)
    case "--list":
        for b in allBenchmarks { print("\(b.name)\t\(b.summary)") }
        exit(0)
    case "-h", "--help":
        print(usage)
        exit(0)
    case let name where !name.hasPrefix("-"):
        filters.append(name)
    default:
        FileHandle.standardError.write(Data("unknown option \(arg)\n\(usage)\n".utf8))
        exit(2)
    }
}

let selected = filters.isEmpty ? allBenchmarks : allBenchmarks.filter { b in filters.contains { b.name.contains($0) } }
guard !selected.isEmpty else {
    let names = allBenchmarks.map(\.name).joined(separator: ", ")
    FileHandle.standardError.write(Data("no benchmark matches \(filters); there are: \(names)\n".utf8))
    exit(2)
}
let rows = selected.flatMap { $0.run() }
print(markdownTable(rows))
// The same rows as JSON, for tools and for comparing runs.
let json = URL(fileURLWithPath: jsonPath)
do {
    try FileManager.default.createDirectory(at: json.deletingLastPathComponent(), withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // a failed row's value (and ratios made from it) is NaN: JSON has no NaN, so it is written as "nan"
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try encoder.encode(rows).write(to: json)
    note("rows written to \(json.path)")
} catch {
    note("cannot write \(json.path): \(error)")
}
