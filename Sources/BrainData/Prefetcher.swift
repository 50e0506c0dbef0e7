import Foundation

/// Produces `produce(work[0]), produce(work[1]), ...` on a background thread, keeping at most `capacity`
/// finished elements waiting, so training reads the next batch while the current one runs. Elements
/// come out in the order of `work`, exactly as the synchronous loop would make them. The first error
/// stops production and is thrown by `next()` after the elements made before it.
public final class Prefetcher<Element>: @unchecked Sendable {
    public let capacity: Int
    private let state: State

    public init<Work: Sendable>(_ work: [Work], capacity: Int = 4, produce: @escaping @Sendable (Work) throws -> Element) {
        precondition(capacity > 0, "Prefetcher: capacity must be positive")
        self.capacity = capacity
        let state = State(capacity: capacity)
        self.state = state
        // The thread holds the shared state, not the prefetcher, so dropping the prefetcher cancels it.
        let thread = Thread { state.run(work, produce) }
        thread.name = "BrainData.Prefetcher"
        thread.start()
    }

    deinit { state.cancel() }

    /// The next element, waiting for it when the producer is behind; nil after the last one.
    public func next() throws -> Element? { try state.next() }

    /// Elements finished and waiting (at most `capacity`).
    public var buffered: Int { state.locked { $0.buffer.count } }

    /// Stops production and waits for the producer thread to finish its current element.
    public func cancel() { state.cancel() }

    private final class State: @unchecked Sendable {
        let capacity: Int
        let condition = NSCondition()
        var buffer: [Element] = []
        var finished = false
        var cancelled = false
        var failure: Error?

        init(capacity: Int) { self.capacity = capacity }

        func locked<R>(_ body: (State) -> R) -> R {
            condition.lock()
            defer { condition.unlock() }
            return body(self)
        }

        func run<Work>(_ work: [Work], _ produce: (Work) throws -> Element) {
            for item in work {
                condition.lock()
                while buffer.count >= capacity && !cancelled { condition.wait() }
                let stop = cancelled
                condition.unlock()
                if stop { break }
                do {
                    let element = try produce(item)
                    condition.lock()
                    buffer.append(element)
                    condition.broadcast()
                    condition.unlock()
                } catch {
                    condition.lock()
                    failure = error
                    condition.unlock()
                    break
                }
            }
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }

        func next() throws -> Element? {
            condition.lock()
            defer { condition.unlock() }
            while buffer.isEmpty && !finished { condition.wait() }
            if !buffer.isEmpty {
                let element = buffer.removeFirst()
                condition.broadcast()
                return element
            }
            if let failure {
                self.failure = nil
                throw failure
            }
            return nil
        }

        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            while !finished { condition.wait() }
            condition.unlock()
        }
    }
}
