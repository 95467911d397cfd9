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
        let staging = parent.appendingPathComponent(OutputPath.temporaryName(for: target.lastPathComponent))
        // Ctrl-C while the folder is written deletes it (`Interruption`).
        Interruption.registerTemporary(staging.path)
        defer { Interruption.unregisterTemporary(staging.path) }
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
            for file in files {
                try Data(file.contents.utf8).write(to: staging.appendingPathComponent(file.name))
            }
            if exists && OutputPath.exchange(staging.path, target.path) {
                // One atomic step: the destination held the old folder, then the new one; the old one is now at staging.
                try? manager.removeItem(at: staging)
            } else if exists {
                // Where the system cannot exchange: a kill between the two moves is repaired by the next writer
                // (`OutputPath.recoverLeftovers` puts the old folder back).
                let old = parent.appendingPathComponent(OutputPath.temporaryName(for: target.lastPathComponent, old: true))
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
        let target = URL(fileURLWithPath: directory).standardizedFileURL
        // A results folder a killed run had set aside comes back first; then only a folder may be replaced.
        OutputPath.recoverLeftovers(in: target.deletingLastPathComponent().path)
        try OutputPath.checkReplaceable(directory, folder: true)
        let exists = OutputPath.kind(target.path) == .folder
        if exists && !force {
            throw MoESimError(file: directory, "already exists; not overwriting it", hint: "pass --force to replace it, or write elsewhere with --out DIR")
        }
        return exists
    }

    /// Writes one file through a temporary file and a rename.
    static func writeFile(_ path: String, contents: String) throws {
        let url = URL(fileURLWithPath: path)
        try OutputPath.checkReplaceable(path, folder: false)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url, options: .atomic)
        } catch {
            throw MoESimError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }
}
