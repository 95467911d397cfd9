import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Rules for every path moe-sim writes: it replaces only a regular file (or, for a results folder, a folder), never a
/// FIFO, device or link; the leftovers of a writer that was killed are cleaned by the next writer to the same folder;
/// a folder is replaced in one atomic step where the system allows; and two outputs of one command never share a path.
enum OutputPath {
    enum Kind: Equatable {
        case absent, file, folder
        /// Anything else: a FIFO, a device node, a socket or a symbolic link (named).
        case other(String)
    }

    /// What is at `path`, without following a final symbolic link.
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .absent }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .folder
        case S_IFIFO: return .other("a FIFO (named pipe)")
        case S_IFCHR: return .other("a character device")
        case S_IFBLK: return .other("a block device")
        case S_IFSOCK: return .other("a socket")
        case S_IFLNK: return .other("a symbolic link")
        default: return .other("not a regular file")
        }
    }

    /// An error unless `path` is absent or of the kind moe-sim may replace (with `--force`).
    static func checkReplaceable(_ path: String, folder: Bool) throws {
        switch kind(path) {
        case .absent: return
        case .file where !folder, .folder where folder: return
        case .file: throw MoESimError(file: path, "exists and is not a folder", hint: "choose another --out")
        case .folder: throw MoESimError(file: path, "is a folder; expected a file name to write", hint: "choose another output path")
        case let .other(what):
            throw MoESimError(file: path, "is \(what), not a regular \(folder ? "folder" : "file"); moe-sim never replaces it, even with --force",
                              hint: "write to a regular file and copy it there yourself")
        }
    }

    // MARK: Leftovers of killed writers

    /// A writer's temporary name: `.NAME.partial-PID-ID` (the new output being written) or `.NAME.old-PID-ID` (the
    /// output it replaces, set aside for a moment where the folder could not be exchanged in one step).
    static func temporaryName(for name: String, old: Bool = false) -> String {
        ".\(name).\(old ? "old" : "partial")-\(getpid())-\(UUID().uuidString.prefix(8))"
    }

    /// Parses a temporary name: the output's name, whether it is an `old` copy, and the writer's process id.
    static func parseTemporary(_ entry: String) -> (name: String, old: Bool, pid: pid_t)? {
        guard entry.hasPrefix(".") else { return nil }
        for (marker, old) in [(".partial-", false), (".old-", true)] {
            guard let range = entry.range(of: marker, options: .backwards) else { continue }
            let name = String(entry[entry.index(after: entry.startIndex)..<range.lowerBound])
            let rest = entry[range.upperBound...].split(separator: "-", maxSplits: 1)
            guard !name.isEmpty, rest.count == 2, let pid = pid_t(rest[0]), pid > 0 else { continue }
            return (name, old, pid)
        }
        return nil
    }

    static func isAlive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    /// Cleans what killed writers left in `folder`: an `old` copy whose output is missing is put back (the writer
    /// died between moving it aside and moving the new output in); every other leftover of a dead process is deleted.
    /// Leftovers of live processes (another moe-sim writing now) are left alone.
    static func recoverLeftovers(in folder: String) {
        let manager = FileManager.default
        guard let entries = try? manager.contentsOfDirectory(atPath: folder) else { return }
        let dir = URL(fileURLWithPath: folder)
        for entry in entries.sorted() {
            guard let leftover = parseTemporary(entry), leftover.pid != getpid(), !isAlive(leftover.pid) else { continue }
            let path = dir.appendingPathComponent(entry).path
            let destination = dir.appendingPathComponent(leftover.name).path
            if leftover.old, kind(destination) == .absent, rename(path, destination) == 0 { continue }
            try? manager.removeItem(atPath: path)
        }
    }

    // MARK: Replacing a folder

    /// Replaces the folder at `destination` with the one at `staging` in one atomic step (Linux `renameat2` with
    /// `RENAME_EXCHANGE`): the destination holds the old or the new folder at every moment. The old folder ends up at
    /// `staging`. False where the system cannot exchange (then the caller moves aside and back, and a kill between
    /// the two steps is repaired by `recoverLeftovers`).
    static func exchange(_ staging: String, _ destination: String) -> Bool {
        guard let exchange = renameat2 else { return false }
        return exchange(AT_FDCWD, staging, AT_FDCWD, destination, renameExchange) == 0
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameExchange: UInt32 = 2
    /// glibc 2.28+ has it, but the Swift Glibc module does not declare it.
    private static let renameat2: RenameAt2? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

    // MARK: Outputs of one command

    /// Two outputs of one command at the same path would overwrite each other: an error naming both options.
    static func checkDistinct(_ outputs: [(option: String, path: String?)]) throws {
        var seen: [String: String] = [:]
        for case let (option, path?) in outputs {
            let resolved = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
            if let first = seen[resolved] {
                throw MoESimError(field: option, "writes to '\(path)', the same file as \(first)", hint: "give each output its own path")
            }
            seen[resolved] = option
        }
    }
}
