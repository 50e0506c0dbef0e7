import Foundation
import FuzzTargets

// `FUZZ_TARGET` (safetensors, npy, tar, nifti, checkpoint, config) picks the reader.
let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data(
            "voxelformer-fuzz: set FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

#if FUZZING
/// libFuzzer calls this for every input. A thrown error is a correct answer to bad bytes; only a trap,
/// hang or runaway allocation is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    _ = try? target.run(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

/// libFuzzer's driver (in the runtime that `-sanitize=fuzzer` links), for when SwiftPM makes this
/// module's `main` the program's entry point rather than libFuzzer's own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

/// Built by `make fuzz` (`-sanitize=fuzzer -D FUZZING`): libFuzzer with its usual options. Otherwise it
/// replays the files given as arguments and prints each one's outcome.
@main
struct FuzzMain {
    static func main() {
        _ = target
        #if FUZZING
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOneInput($0, $1) })
        #else
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                exit(1)
            }
            do {
                try target.run(data)
                print("\(path): read")
            } catch {
                print("\(path): \(error)")
            }
        }
        #endif
    }
}
