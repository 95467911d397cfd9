import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One output file that appears whole or not at all: it is written under a hidden temporary name in the same
/// folder (`.NAME.partial-PID-XXXXXXXX`) and renamed into place by `commit()`. A failed or interrupted write leaves
/// the destination as it was (the temporary file is deleted on error, on Ctrl-C, or when the writer is dropped
/// without a commit; one left by a killed process is deleted by the next writer to that folder). An existing
/// destination is an error unless `overwrite`, and one that is not a regular file is an error always.
final class AtomicOutputFile {
    let path: String
    let temporaryPath: String
    private let handle: FileHandle
    private let overwrite: Bool
    private var writeError: Error?
    private var finished = false

    init(path: String, overwrite: Bool) throws {
        // Only a regular file is ever replaced (never a FIFO, device or link, even with --force).
        try OutputPath.checkReplaceable(path, folder: false)
        if OutputPath.kind(path) == .file, !overwrite {
            throw MoESimError(file: path, "already exists; not overwriting it", hint: "pass --force to replace it, or choose another path")
        }
        let url = URL(fileURLWithPath: path)
        // What writers killed earlier (kill -9, power loss) left beside it goes first.
        OutputPath.recoverLeftovers(in: url.deletingLastPathComponent().path)
        temporaryPath = url.deletingLastPathComponent().appendingPathComponent(OutputPath.temporaryName(for: url.lastPathComponent)).path
        Interruption.registerTemporary(temporaryPath)
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            Interruption.unregisterTemporary(temporaryPath)
            throw MoESimError(file: path, "cannot create the file: \(reason)", hint: "check that its folder exists and is writable")
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        self.path = path
        self.overwrite = overwrite
    }

    deinit {
        if !finished { discard() }
    }

    /// Appends `data`; the first failure (a full disk, say) is kept and reported by `commit()`.
    func write(_ data: Data) {
        guard writeError == nil, !finished else { return }
        do { try handle.write(contentsOf: data) } catch { writeError = error }
    }

    /// Moves the finished file into place. Without `overwrite`, a file that appeared at the destination meanwhile
    /// is not replaced (the hard link fails instead).
    func commit() throws {
        guard !finished else { return }
        do { try handle.synchronize() } catch { if writeError == nil { writeError = error } }
        try? handle.close()
        if let writeError {
            discard()
            throw MoESimError(file: path, "cannot write the file: \(writeError.localizedDescription)", hint: "nothing was written there")
        }
        if overwrite {
            guard rename(temporaryPath, path) == 0 else { throw failure("cannot move the finished file into place") }
        } else if link(temporaryPath, path) != 0 {
            if errno == EEXIST {
                discard()
                throw MoESimError(file: path, "appeared while this output was being written; not overwriting it", hint: "pass --force to replace it")
            }
            // File systems without hard links: the destination was checked when the output was opened.
            guard rename(temporaryPath, path) == 0 else { throw failure("cannot move the finished file into place") }
        } else {
            unlink(temporaryPath)
        }
        finished = true
        Interruption.unregisterTemporary(temporaryPath)
    }

    private func failure(_ message: String) -> MoESimError {
        let reason = String(cString: strerror(errno))
        discard()
        return MoESimError(file: path, "\(message): \(reason)", hint: "nothing was written there")
    }

    /// Deletes the temporary file; the destination is untouched.
    func discard() {
        guard !finished else { return }
        finished = true
        try? handle.close()
        unlink(temporaryPath)
        Interruption.unregisterTemporary(temporaryPath)
    }
}
