import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Anything that yields trace records: the JSONL reader and the binary one.
public protocol TraceRecordSource: AnyObject {
    var header: TraceHeader { get }
    var path: String { get }
    var missingCells: MissingCellPolicy { get }
    /// Requests seen so far; token records refer to them by index.
    var requests: [RequestInfo] { get }
    /// The token read by the last `next()` that returned `.token`.
    var token: TokenRecord { get }
    var missingCellCount: Int { get }
    func next() throws -> TraceReader.Item?
}

extension TraceReader: TraceRecordSource {}

/// Opens a trace in either form, telling them apart by the binary magic.
public func openTrace(path: String, missingCells: MissingCellPolicy = .skip, allowWiderCells: Bool = false) throws -> TraceRecordSource {
    if BinaryTraceFormat.isBinary(path: path) {
        return try BinaryTraceReader(path: path, missingCells: missingCells, allowWiderCells: allowWiderCells)
    }
    return try TraceReader(path: path, missingCells: missingCells, allowWiderCells: allowWiderCells)
}

/// Reads the binary form (`BinaryTraceFormat`) block by block, checking each block's checksum and every
/// routing rule the JSONL reader checks. Errors name the file, the block and the record.
public final class BinaryTraceReader: TraceRecordSource {
    public let header: TraceHeader
    public let path: String
    public let missingCells: MissingCellPolicy
    public private(set) var requests: [RequestInfo] = []
    public private(set) var token: TokenRecord
    public private(set) var missingCellCount = 0
    private let file: UnsafeMutablePointer<FILE>
    private var payload: [UInt8] = []
    private var offset = 0
    private var recordsLeft = 0
    private var block = 0
    private var record = 0
    private var ended = false
    private let maxExpertsPerCell: Int
    private let fileBytes: Int
    private var requestIndex: [String: Int] = [:]

    public init(path: String, missingCells: MissingCellPolicy = .skip, allowWiderCells: Bool = false) throws {
        self.path = path
        self.missingCells = missingCells
        guard let handle = fopen(path, "rb") else {
            throw MoESimError(file: path, "cannot open file: \(String(cString: strerror(errno)))", hint: "check the path")
        }
        file = handle
        var info = stat()
        fileBytes = fstat(fileno(handle), &info) == 0 ? Int(info.st_size) : Int.max
        func fail(_ message: String) -> MoESimError { MoESimError(file: path, field: "file header", message) }
        var start = [UInt8](repeating: 0, count: BinaryTraceFormat.magic.count + 8)
        guard fread(&start, 1, start.count, handle) == start.count, Array(start.prefix(8)) == BinaryTraceFormat.magic else {
            fclose(handle)
            throw fail("not a binary moe-trace file (bad magic or truncated)")
        }
        let version = start.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian }
        guard version == BinaryTraceFormat.version else {
            fclose(handle)
            throw fail("unsupported binary format version \(version), expected \(BinaryTraceFormat.version)")
        }
        let length = Int(start.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian })
        // Lengths are checked against the file before anything is allocated: a corrupt length must not exhaust memory.
        guard length < 1 << 24, length <= fileBytes - start.count else {
            fclose(handle)
            throw fail("truncated header")
        }
        var json = [UInt8](repeating: 0, count: length)
        guard fread(&json, 1, length, handle) == length else {
            fclose(handle)
            throw fail("truncated header")
        }
        do {
            header = try TraceHeader.from(try JSONValue.parse(String(decoding: json, as: UTF8.self)))
        } catch let error as MoESimError {
            fclose(handle)
            throw error.located(file: path)
        } catch {
            fclose(handle)
            throw fail("malformed header JSON: \(error)")
        }
        maxExpertsPerCell = allowWiderCells ? min(header.experts, TokenRecord.maxCellWidth) : header.topK
        let weightsPerLayer = header.weights == .full ? header.experts : (header.weights == .topk ? maxExpertsPerCell : 0)
        token = TokenRecord(layers: header.layers, slotsPerLayer: maxExpertsPerCell, weightsPerLayer: weightsPerLayer, aheadSlotsPerLayer: header.experts)
    }

    deinit { fclose(file) }

    func error(_ message: String) -> MoESimError {
        MoESimError(file: path, field: "block \(block), record \(record)", message)
    }

    private func readBlock() throws -> Bool {
        var blockHeader = [UInt8](repeating: 0, count: BinaryTraceFormat.blockHeaderBytes)
        guard fread(&blockHeader, 1, blockHeader.count, file) == blockHeader.count else {
            throw MoESimError(file: path, field: "block \(block + 1)", "file is truncated (no end marker)")
        }
        let (bytes, count, sum) = blockHeader.withUnsafeBytes {
            (Int($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian), Int($0.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian),
             $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        }
        block += 1
        record = 0
        if bytes == 0 && count == 0 { ended = true; return false }
        let position = ftell(file)
        guard position >= 0, bytes <= fileBytes - position else {
            throw MoESimError(file: path, field: "block \(block)", "file is truncated inside a block")
        }
        payload = [UInt8](repeating: 0, count: bytes)
        guard fread(&payload, 1, bytes, file) == bytes else {
            throw MoESimError(file: path, field: "block \(block)", "file is truncated inside a block")
        }
        guard payload.withUnsafeBytes({ BinaryTraceFormat.checksum($0) }) == sum else {
            throw MoESimError(file: path, field: "block \(block)", "checksum mismatch: the file is corrupted")
        }
        offset = 0
        recordsLeft = count
        return true
    }

    @inline(__always) private func read<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= payload.count else { throw error("record runs past the end of its block") }
        let v = payload.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: v)
    }

    public func next() throws -> TraceReader.Item? {
        while true {
            if ended { return nil }
            if recordsLeft == 0 {
                guard try readBlock() else { return nil }
                continue
            }
            recordsLeft -= 1
            record += 1
            let kind = try read(UInt8.self)
            switch kind {
            case BinaryTraceFormat.requestRecord:
                let implicit = try read(UInt8.self) == 1
                let length = Int(try read(UInt32.self))
                guard offset + length <= payload.count else { throw error("request record runs past the end of its block") }
                let value: JSONValue
                do { value = try JSONValue.parse(String(decoding: payload[offset..<(offset + length)], as: UTF8.self)) } catch {
                    throw self.error("request record is not valid JSON: \(error)")
                }
                offset += length
                let info = try requestInfo(value)
                guard requestIndex[info.id] == nil else { throw error("request \"\(info.id)\" is announced twice") }
                requestIndex[info.id] = requests.count
                requests.append(info)
                if !implicit { return .request(requests.count - 1) }
            case BinaryTraceFormat.tokenRecord, BinaryTraceFormat.residentTokenRecord:
                try readToken(withResidency: kind == BinaryTraceFormat.residentTokenRecord)
                return .token
            default:
                throw error("unknown record kind \(kind)")
            }
        }
    }

    /// A request record's fields, held to the JSONL reader's rules.
    private func requestInfo(_ value: JSONValue) throws -> RequestInfo {
        guard let id = value["request"]?.stringValue else { throw error("request record without an id") }
        func field(_ key: String) -> JSONValue? { value[key].flatMap { $0.isNull ? nil : $0 } }
        func nonNegative(_ key: String) throws -> Double? {
            guard let v = field(key) else { return nil }
            guard let n = v.numberValue, n.isFinite, n >= 0 else { throw error("request \"\(id)\": \(key) must be a number >= 0, found \(v.serialized)") }
            return n
        }
        func count(_ key: String) throws -> Int? {
            guard let n = try nonNegative(key) else { return nil }
            guard n == n.rounded(), n < 9.0e15 else { throw error("request \"\(id)\": \(key) must be an integer >= 0, found \(n)") }
            return Int(n)
        }
        var info = RequestInfo(id: id)
        if let task = field("task") {
            guard let text = task.stringValue else { throw error("request \"\(id)\": task must be a string, found \(task.serialized)") }
            info.task = text
        }
        info.arrivalSeconds = try nonNegative("arrival_s")
        info.promptTokens = try count("prompt_tokens")
        info.outputTokens = try count("output_tokens")
        info.sloTTFTSeconds = try nonNegative("slo_ttft_s")
        return info
    }

    private func readToken(withResidency: Bool) throws {
        // Parse through raw pointers into a record moved out of `self` (so its arrays are uniquely owned and no
        // per-store copy-on-write or exclusivity checks run): this is what makes the binary form fast.
        var t = TokenRecord(layers: 0, slotsPerLayer: 0, weightsPerLayer: 0, aheadSlotsPerLayer: 0)
        swap(&t, &token)
        defer { swap(&t, &token) }
        let layers = header.layers, experts = header.experts, limit = maxExpertsPerCell
        let slots = t.slotsPerLayer, perLayer = t.weightsPerLayer
        let weightsKind = header.weights
        var nulls = 0
        let failure: String? = payload.withUnsafeBytes { raw -> String? in
            var c = RawCursor(raw: raw, offset: offset)
            guard c.has(13) else { return "record runs past the end of its block" }
            let r = Int(c.load(UInt32.self))
            guard r < requests.count else { return "token refers to request \(r), but only \(requests.count) are known" }
            let phase = c.load(UInt8.self)
            guard phase <= 1 else { return "bad phase \(phase)" }
            t.request = r
            t.phase = phase == 0 ? .prefill : .decode
            t.position = Int(c.load(Int64.self))
            // JSONL positions are integers below 9e15 (exact in a double); -1 means none.
            guard t.position >= -1, t.position < 9_000_000_000_000_000 else { return "position \(t.position) (expected 0 ..< 9e15, or -1 for none)" }
            let problem: String? = t.counts.withUnsafeMutableBufferPointer { counts -> String? in
                t.experts.withUnsafeMutableBufferPointer { ids -> String? in
                    for l in 0..<layers {
                        guard c.has(1) else { return "record runs past the end of its block" }
                        let n = Int(c.load(Int8.self))
                        guard n >= -1 && n <= limit else { return "layer \(l): \(n) experts, expected at most \(limit)" }
                        counts[l] = Int8(n)
                        if n < 0 { nulls += 1; continue }
                        guard n > 0 else { return "layer \(l): an empty selection is not a top-k selection (null marks a layer with none)" }
                        guard c.has(2 * n) else { return "record runs past the end of its block" }
                        for i in 0..<n {
                            let e = Int(c.load(UInt16.self))
                            guard e < experts else { return "layer \(l): expert id \(e) out of range [0, \(experts))" }
                            for j in 0..<i where ids[l * slots + j] == Int32(e) { return "layer \(l): expert \(e) listed twice" }
                            ids[l * slots + i] = Int32(e)
                        }
                    }
                    return nil
                }
            }
            if let problem { return problem }
            if weightsKind != .none {
                let problem: String? = t.weights.withUnsafeMutableBufferPointer { weights -> String? in
                    for l in 0..<layers where t.counts[l] >= 0 {
                        let width = weightsKind == .full ? perLayer : Int(t.counts[l])
                        guard c.has(4 * width) else { return "record runs past the end of its block" }
                        var sum = 0.0
                        for i in 0..<width {
                            let w = Float(bitPattern: c.load(UInt32.self))
                            guard w.isFinite, w >= 0 else { return "layer \(l): weight \(w) must be finite and >= 0" }
                            weights[l * perLayer + i] = w
                            sum += Double(w)
                        }
                        if width > 0 && !TraceReader.weightsSumToOne(sum) {
                            return "layer \(l): weights sum to \(sum), expected 1 within \(TraceReader.weightSumTolerance)"
                        }
                    }
                    return nil
                }
                if let problem { return problem }
            }
            guard c.has(1) else { return "record runs past the end of its block" }
            let depths = Int(c.load(UInt8.self))
            if !t.aheadCounts.isEmpty {
                t.aheadCounts.removeAll(keepingCapacity: true)
                t.aheadExperts.removeAll(keepingCapacity: true)
            }
            for _ in 0..<depths {
                guard c.has(1) else { return "record runs past the end of its block" }
                let d = Int(c.load(UInt8.self))
                guard d >= 1 && d <= TokenRecord.maxAheadDepth else { return "bad lookahead depth \(d)" }
                var counts = [Int8](repeating: TokenRecord.missingCell, count: layers)
                var ids = [Int32](repeating: 0, count: layers * t.aheadSlotsPerLayer)
                for l in 0..<layers {
                    guard c.has(1) else { return "record runs past the end of its block" }
                    let n = Int(c.load(Int8.self))
                    guard n >= -1 && n <= min(experts, TokenRecord.maxCellWidth) else { return "bad lookahead count \(n)" }
                    counts[l] = Int8(n)
                    guard c.has(2 * max(0, n)) else { return "record runs past the end of its block" }
                    for i in 0..<max(0, n) {
                        let e = Int(c.load(UInt16.self))
                        guard e < experts else { return "lookahead expert id \(e) out of range" }
                        ids[l * t.aheadSlotsPerLayer + i] = Int32(e)
                    }
                }
                while t.aheadCounts.count < d {
                    t.aheadCounts.append([])
                    t.aheadExperts.append([])
                }
                t.aheadCounts[d - 1] = counts
                t.aheadExperts[d - 1] = ids
            }
            if withResidency {
                if t.residency.count != layers * slots { t.residency = Array(repeating: 0, count: layers * slots) }
                for l in 0..<layers where t.counts[l] > 0 {
                    let n = Int(t.counts[l])
                    guard c.has(n) else { return "record runs past the end of its block" }
                    for i in 0..<n {
                        let flag = c.load(UInt8.self)
                        guard flag <= 1 else { return "layer \(l): residency flag \(flag), expected 0 or 1" }
                        t.residency[l * slots + i] = Int8(flag)
                    }
                }
            } else if !t.residency.isEmpty {
                t.residency.removeAll(keepingCapacity: true)
            }
            offset = c.offset
            return nil
        }
        if let failure { throw error(failure) }
        // Lines of one request are in time order, as in JSONL.
        // (`t` holds the record until the deferred swap.)
        if t.position >= 0 {
            let last = requests[t.request].lastPosition
            guard t.position > last else {
                throw error("request \"\(requests[t.request].id)\" goes back in time: position \(t.position) after \(last)")
            }
            requests[t.request].lastPosition = t.position
        }
        if nulls > 0 {
            if missingCells == .error { throw error("null cell (a row the recorder lost); use --missing skip to replay without it") }
            missingCellCount += nulls
        }
    }
}

/// Reads little-endian values from raw bytes; the caller checks `has` before loading.
struct RawCursor {
    let raw: UnsafeRawBufferPointer
    var offset: Int

    @inline(__always) func has(_ bytes: Int) -> Bool { offset + bytes <= raw.count }

    @inline(__always) mutating func load<T: FixedWidthInteger>(_: T.Type) -> T {
        let v = T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }
}
