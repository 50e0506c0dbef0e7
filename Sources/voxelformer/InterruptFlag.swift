import Foundation

/// Turns Ctrl-C (SIGINT) and SIGTERM into a flag the training loop polls, so it can save and exit cleanly.
/// A second Ctrl-C exits at once.
public enum InterruptFlag {
    nonisolated(unsafe) private static var raised: sig_atomic_t = 0
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    public static var isRaised: Bool { raised != 0 }

    /// `message` is printed at the first Ctrl-C, after `prefix` (a rank's).
    public static func install(message: String = "interrupted: saving a checkpoint, then stopping (Ctrl-C again to quit now)",
                               prefix: String = "") {
        guard sources.isEmpty else { return }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                // _exit: skips static destructors, which would pull libtorch away from the training thread
                if raised != 0 { _exit(130) }
                raised = 1
                FileHandle.standardError.write(Data("\n\(prefix)\(message)\n".utf8))
            }
            source.resume()
            sources.append(source)
        }
    }
    /// For tests: raise or clear the flag by hand.
    public static func set(_ value: Bool) { raised = value ? 1 : 0 }
}
