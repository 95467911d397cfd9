import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Streams a file line by line through a fixed-size buffer, so traces larger than memory can be read.
/// Lines are handed out as byte views that stay valid until the next call.
public final class LineReader {
    public let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    private var eof = false
    /// 1-based number of the line last returned.
    public private(set) var lineNumber = 0
    /// Bytes consumed so far (for throughput figures).
    public private(set) var bytesRead = 0

    static let initialCapacity = 1 << 20
    /// The longest line read: 256 MiB, five times the longest a valid trace can have (a "full"-weights line of the
    /// most slots a header allows, 4,194,304, at about 12 bytes each). Memory stays bounded by it whatever the file.
    public static let defaultMaxLineBytes = 1 << 28
    let maxLineBytes: Int

    public init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws {
        self.maxLineBytes = maxLineBytes
        guard let handle = fopen(path, "rb") else {
            throw MoESimError(file: path, "cannot open file: \(String(cString: strerror(errno)))", hint: "check the path")
        }
        var info = stat()
        if fstat(fileno(handle), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            fclose(handle)
            throw MoESimError(file: path, "is a directory, expected a trace file")
        }
        self.path = path
        file = handle
        capacity = LineReader.initialCapacity
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        fclose(file)
        buffer.deallocate()
    }

    /// The next line without its newline (and without a trailing CR), or nil at the end of the file. A line longer
    /// than `maxLineBytes` is an error (before more than that is held in memory).
    public func nextLine() throws -> UnsafeBufferPointer<UInt8>? {
        while true {
            if let newline = findNewline() {
                if newline - start > maxLineBytes { throw tooLong() }
                let lineStart = start
                var lineEnd = newline
                start = newline + 1
                if lineEnd > lineStart && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                lineNumber += 1
                return UnsafeBufferPointer(start: buffer + lineStart, count: lineEnd - lineStart)
            }
            if eof {
                guard start < end else { return nil }
                if end - start > maxLineBytes { throw tooLong() }
                let lineStart = start
                start = end
                lineNumber += 1
                var lineEnd = end
                if buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                return UnsafeBufferPointer(start: buffer + lineStart, count: lineEnd - lineStart)
            }
            if end - start > maxLineBytes { throw tooLong() }
            refill()
        }
    }

    private func tooLong() -> MoESimError {
        MoESimError(file: path, line: lineNumber + 1, "line is longer than \(ByteSize.format(Double(maxLineBytes))), more than moe-sim reads",
                    hint: "is this a JSONL file? every line ends with a newline")
    }

    private var scanFrom = 0

    private func findNewline() -> Int? {
        var i = max(start, scanFrom)
        guard i < end else { return nil }
        if let p = memchr(buffer + i, 0x0A, end - i) {
            let index = buffer.distance(to: p.assumingMemoryBound(to: UInt8.self))
            scanFrom = index + 1
            return index
        }
        i = end
        scanFrom = end
        return nil
    }

    private func refill() {
        // Move the partial line to the front; grow when one line fills the whole buffer.
        if start > 0 {
            let remaining = end - start
            if remaining > 0 { memmove(buffer, buffer + start, remaining) }
            scanFrom -= start
            end = remaining
            start = 0
        }
        if end == capacity {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        let n = fread(buffer + end, 1, capacity - end, file)
        if n == 0 { eof = true }
        end += n
        bytesRead += n
        if scanFrom < 0 { scanFrom = 0 }
    }
}
