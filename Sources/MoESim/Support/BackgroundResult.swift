import Foundation

/// Runs an independent computation on its own thread from now on; `value()` waits for its answer. The timed replay
/// uses it to compute its reference optimum (a cache-only replay of its own copy of the trace) on another core
/// while the timed run goes on. The work shares nothing mutable with the caller, so the answer is the one a run
/// after the replay would give, byte for byte.
final class BackgroundResult<Value>: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private var result: Result<Value, Error>?

    init(_ work: @escaping () throws -> Value) {
        let thread = Thread { [self] in
            result = Result { try work() }
            finished.signal()
        }
        // The replay's recursion is shallow, but policies may hold large stack frames: the main thread's size.
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The answer (or the error the work threw), once the work has finished.
    func value() throws -> Value {
        finished.wait()
        finished.signal()
        return try result!.get()
    }
}
