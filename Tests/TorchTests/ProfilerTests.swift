import Foundation
import Testing
@testable import Torch

// Counts come from the calls each test makes; times are only compared with each other (self <= total),
// never with a clock.
@Suite(.serialized) struct ProfilerTests {
    @Test func selfTimeSubtractsDirectChildrenOnTheSameThread() {
        // thread 1: a [0,100) holds b [10,40) (which holds c [15,25)) and a second b [50,60); d [90,120)
        // overlaps a's end, so it is no child of a. Thread 2's e [20,30) lies inside a's span but is no child.
        let events = [
            ProfileEvent(name: "a", thread: 1, startNs: 0, durationNs: 100),
            ProfileEvent(name: "b", thread: 1, startNs: 10, durationNs: 30),
            ProfileEvent(name: "c", thread: 1, startNs: 15, durationNs: 10),
            ProfileEvent(name: "b", thread: 1, startNs: 50, durationNs: 10),
            ProfileEvent(name: "d", thread: 1, startNs: 90, durationNs: 30),
            ProfileEvent(name: "e", thread: 2, startNs: 20, durationNs: 10),
            ProfileEvent(name: "kernel", thread: 3, startNs: 0, durationNs: 7, onCPU: false),
        ]
        let s = ProfileSummary(events: events)
        // a: 100 - 30 - 10 = 60; b: (30 - 10) + 10 = 30 over 2 calls, 40 in total; c, d, e: their durations
        #expect(s.row("a") == .init(name: "a", count: 1, totalNs: 100, selfNs: 60))
        #expect(s.row("b") == .init(name: "b", count: 2, totalNs: 40, selfNs: 30))
        #expect(s.row("c")?.selfNs == 10 && s.row("d")?.selfNs == 30 && s.row("e")?.selfNs == 10)
        #expect(s.selfTotalNs == 60 + 30 + 10 + 30 + 10)
        #expect(s.rows.map(\.name) == ["a", "b", "d", "c", "e"])  // self time, ties by name
        #expect(s.top(2, by: .totalTime).map(\.name) == ["a", "b"])
        #expect(s.row("kernel") == nil && s.deviceRows == [.init(name: "kernel", count: 1, totalNs: 7, selfNs: 7)])
        let table = s.table(limit: 2)
        // a: self 60 of 140 = 42.9%, total 100 = 71.4%; times in ms
        #expect(table.contains("| a | 42.9% | 0.000 | 71.4% | 0.000 | 0.000 | 1 |"))
        #expect(table.split(separator: "\n").filter { $0.hasPrefix("| ") }.count == 3)  // header + 2 rows
        #expect(table.hasSuffix("Self CPU time total: 0.000 ms\n"))
    }

    @Test func matmulAndAddAreCountedOncePerCall() throws {
        let a = Tensor.randn([16, 8]), b = Tensor.randn([8, 4]), c = Tensor.randn([16, 4])
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("profiler-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: trace) }
        let summary = try Profiler.record(trace: trace, allThreads: false) {
            for _ in 0..<3 { _ = a.matmul(b) }
            for _ in 0..<5 { _ = c + c }
            Profiler.range("block") { _ = a.matmul(b) + c }
        }
        #expect(summary.row("aten::matmul")?.count == 4)
        #expect(summary.row("aten::mm")?.count == 4)
        #expect(summary.row("aten::add")?.count == 6)
        #expect(summary.row("block")?.count == 1)
        for row in summary.rows { #expect(row.selfNs <= row.totalNs && row.selfNs >= 0, "\(row)") }
        // aten::matmul runs aten::mm inside it, so its self time excludes mm's time
        let matmul = try #require(summary.row("aten::matmul"))
        #expect(matmul.selfNs < matmul.totalNs)
        // The trace is Chrome's JSON format and holds the same calls.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: trace)) as? [String: Any]
        let traceEvents = try #require(json?["traceEvents"] as? [[String: Any]])
        #expect(traceEvents.filter { $0["name"] as? String == "aten::mm" }.count == 4)
        #expect(!Profiler.isRecording)
    }

    @Test func allThreadsRecordsOperatorsOfOtherThreads() throws {
        let x = Tensor.randn([4, 4])
        func onAnotherThread() {
            let done = DispatchSemaphore(value: 0)
            let thread = Thread { _ = x.exp(); done.signal() }
            thread.start()
            done.wait()
        }
        let all = try Profiler.record(allThreads: true) { _ = x.sin(); onAnotherThread() }
        let mine = try Profiler.record(allThreads: false) { _ = x.sin(); onAnotherThread() }
        #expect(all.row("aten::exp")?.count == 1)
        #expect(mine.row("aten::exp") == nil && mine.row("aten::sin")?.count == 1)
        let threads = Set(all.events.filter { ["aten::exp", "aten::sin"].contains($0.name) }.map(\.thread))
        #expect(threads.count == 2)
    }

    @Test func misuseThrowsAndLeavesNoProfilerRunning() throws {
        #expect(throws: TorchError.self) { try Profiler.stop() }
        try Profiler.start()
        #expect(throws: TorchError("the profiler is already running")) { try Profiler.start() }
        let missing = URL(fileURLWithPath: "/nonexistent-\(UUID())/trace.json")
        let error = #expect(throws: TorchError.self) { try Profiler.stop(trace: missing) }
        #expect(error?.message.contains(missing.path) == true)
        #expect(!Profiler.isRecording)
        struct Boom: Error {}
        #expect(throws: Boom.self) { try Profiler.record { throw Boom() } }
        #expect(!Profiler.isRecording)
    }
}
