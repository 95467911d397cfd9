import Foundation

/// Output folders and files that appear whole or not at all: a reader (or a crashed run) never sees a
/// half-written results folder, and an existing one is only replaced when asked to.
enum AtomicOutput {
    /// Writes `files` as the folder `directory`. They are written into a hidden sibling folder first, which is
    /// then renamed into place (rename is atomic within one file system). An existing folder is an error unless
    /// `force`, in which case it is replaced as a whole (files it had that the new one lacks do not survive).
    static func writeDirectory(_ directory: String, files: [(name: String, contents: String)], force: Bool) throws {
        let manager = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        let exists = try checkDestination(directory, force: force)
        do {
            try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw MoESimError(file: parent.path, "cannot create the folder: \(error.localizedDescription)")
        }
        let unique = "\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(unique)")
        // Ctrl-C while the folder is written deletes it (`Interruption`).
        Interruption.registerTemporary(staging.path)
        defer { Interruption.unregisterTemporary(staging.path) }
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
            for file in files {
                try Data(file.contents.utf8).write(to: staging.appendingPathComponent(file.name))
            }
            if exists {
                let old = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(unique)")
                try manager.moveItem(at: target, to: old)
                do {
                    try manager.moveItem(at: staging, to: target)
                } catch {
                    try? manager.moveItem(at: old, to: target)
                    throw error
                }
                try? manager.removeItem(at: old)
            } else {
                try manager.moveItem(at: staging, to: target)
            }
        } catch let error as MoESimError {
            try? manager.removeItem(at: staging)
            throw error
        } catch {
            try? manager.removeItem(at: staging)
            throw MoESimError(file: directory, "cannot write the results: \(error.localizedDescription)")
        }
    }

    /// Whether `directory` exists; an error when it is a file, or exists and `force` is not given. Commands call it
    /// before long work too, so a sweep is not run only to be refused at the end.
    @discardableResult
    static func checkDestination(_ directory: String, force: Bool) throws -> Bool {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).standardizedFileURL.path, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            throw MoESimError(file: directory, "exists and is not a folder", hint: "choose another --out")
        }
        if exists && !force {
            throw MoESimError(file: directory, "already exists; not overwriting it", hint: "pass --force to replace it, or write elsewhere with --out DIR")
        }
        return exists
    }

    /// Writes one file through a temporary file and a rename.
    static func writeFile(_ path: String, contents: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url, options: .atomic)
        } catch {
            throw MoESimError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }
}
