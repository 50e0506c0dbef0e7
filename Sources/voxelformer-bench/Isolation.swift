import Foundation

/// Peak memory can only be read per process (VmHWM never goes down), so benchmarks that report it run in a
/// child process of their own: the bench re-executes itself with `isolationVariable` set to the benchmark's
/// name, the child runs that one benchmark and prints its rows as tab-separated lines, the parent reads them.
let isolationVariable = "VOXELFORMER_BENCH_ISOLATED"

/// The bench's process id, given to the children it starts: a child whose parent is no longer that process
/// exits (the bench was stopped), instead of running on and loading the machine for the next run.
let parentVariable = "VOXELFORMER_BENCH_PARENT"

/// `--profile DIR`: where the training rows write their profiles (set by the parent, inherited by children).
let profileVariable = "VOXELFORMER_BENCH_PROFILE"

/// The folder of `--profile`, if given.
var profileDirectory: URL? { ProcessInfo.processInfo.environment[profileVariable].map { URL(fileURLWithPath: $0) } }

/// A row's name as a file name: letters and digits kept, anything else `_`.
func fileSlug(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "=" ? $0 : "_" })
}

/// The benchmark this process was started to run alone, if any.
let isolatedName = ProcessInfo.processInfo.environment[isolationVariable]

/// `measure()` in a fresh process (or here, when this process is that fresh process). A child that cannot
/// start, fails or prints something unreadable gives one `failed` row (its stderr is the bench's): the rest
/// of the table is still measured and printed.
func isolated(_ name: String, _ measure: () -> [BenchmarkRow]) -> [BenchmarkRow] {
    if isolatedName == name { return measure() }
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    child.arguments = []
    child.environment = ProcessInfo.processInfo.environment.merging([isolationVariable: name, parentVariable: "\(getpid())"]) { $1 }
    let pipe = Pipe()
    child.standardOutput = pipe
    func failed(_ why: String) -> [BenchmarkRow] {
        note("\(name): \(why)")
        return [BenchmarkRow(name: name, metric: "failed: \(why)", value: .nan, unit: "")]
    }
    do { try child.run() } catch { return failed("cannot start a child process: \(error)") }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else {
        return failed("the child process exited with status \(child.terminationStatus) (its messages are above)")
    }
    let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    let rows = lines.compactMap(parseRow)
    guard rows.count == lines.count, !rows.isEmpty else {
        return failed("unreadable rows from the child process: \(lines.first { parseRow($0) == nil } ?? "(none)")")
    }
    return rows
}

/// One row as the child prints it: name, metric, value, unit, reference ("" when none), tab-separated.
func serialise(_ row: BenchmarkRow) -> String {
    [row.name, row.metric, "\(row.value)", row.unit, row.reference.map { "\($0)" } ?? ""].joined(separator: "\t")
}

func parseRow(_ line: String) -> BenchmarkRow? {
    let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
    guard f.count == 5, let value = Double(f[2]) else { return nil }
    return BenchmarkRow(name: f[0], metric: f[1], value: value, unit: f[3], reference: Double(f[4]))
}

/// A field of /proc/self/status in kibibytes (`VmHWM` peak resident set, `VmRSS` current), as MiB.
func procStatusMiB(_ field: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
          // "VmHWM:\t 1234567 kB": a tab, then the number padded to 8 digits, so from 10^7 kB on no space.
          let kib = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    else { fatalError("/proc/self/status: no \(field) line") }
    return kib / 1024
}

/// Progress lines on stderr, so the table on stdout stays clean.
func note(_ message: String) {
    FileHandle.standardError.write(Data("[bench] \(message)\n".utf8))
}
