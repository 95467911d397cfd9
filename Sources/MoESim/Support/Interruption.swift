import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C (SIGINT) and SIGTERM. By default the process stops at once after deleting the temporary files and folders
/// of outputs still being written (`AtomicOutputFile`, `AtomicOutput`), so nothing half-written is left behind. Inside a
/// `whileStoppingGracefully` section (an experiment sweep) the first signal only sets `requested`: the sweep stops
/// starting runs, keeps the finished ones and writes them; a second signal stops at once.
public enum Interruption {
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var installed = false
        var sources: [DispatchSourceSignal] = []
        var temporaryFiles: Set<String> = []
        var gracefulSections = 0
        var gracefulNotice = ""
        var requested = false
    }

    private static let state = State()

    /// True once a signal arrived inside a graceful section (reset when the outermost section begins).
    public static var requested: Bool {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.requested
    }

    /// Installs the handlers (once per process).
    static func install() {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.installed else { return }
        state.installed = true
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handle() }
            source.resume()
            state.sources.append(source)
        }
    }

    private static func handle() {
        state.lock.lock()
        let graceful = state.gracefulSections > 0 && !state.requested
        if graceful {
            state.requested = true
            let notice = state.gracefulNotice
            state.lock.unlock()
            FileHandle.standardError.write(Data("\ninterrupted: \(notice) (press Ctrl-C again to stop at once, keeping nothing)\n".utf8))
            return
        }
        let paths = state.temporaryFiles
        state.lock.unlock()
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
        FileHandle.standardError.write(Data("\ninterrupted: stopped; outputs not finished were not written\n".utf8))
        exit(130)
    }

    /// Runs `body` with the first signal turned into `requested` (and `notice` printed) instead of an exit.
    public static func whileStoppingGracefully<T>(notice: String, _ body: () throws -> T) rethrows -> T {
        install()
        state.lock.lock()
        if state.gracefulSections == 0 { state.requested = false }
        state.gracefulSections += 1
        state.gracefulNotice = notice
        state.lock.unlock()
        defer {
            state.lock.lock()
            state.gracefulSections -= 1
            state.lock.unlock()
        }
        return try body()
    }

    /// A temporary file or folder to delete if the process is stopped before it is renamed into place.
    static func registerTemporary(_ path: String) {
        install()
        state.lock.lock()
        state.temporaryFiles.insert(path)
        state.lock.unlock()
    }

    static func unregisterTemporary(_ path: String) {
        state.lock.lock()
        state.temporaryFiles.remove(path)
        state.lock.unlock()
    }
}
