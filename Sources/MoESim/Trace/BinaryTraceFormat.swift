import Foundation

/// The binary form of moe-trace v1 (`.moetrace`): the same content as the JSONL form, read about an order of
/// magnitude faster. Little-endian throughout.
///
///     "MOETRACE"            8 bytes, magic
///     version               u32 = 1
///     header length         u32, then the JSONL header line (UTF-8 JSON, unknown fields kept)
///     blocks, each:         u32 payload bytes, u32 records, u64 checksum of the payload, payload
///                           (FNV-1a over the payload's 64-bit little-endian words, then its remaining bytes)
///     end block:            payload bytes 0, records 0, checksum 0 (a file without it is truncated)
///
/// Records in a payload:
///
///     request   u8 1, u8 implicit (1: the JSONL had no request line), u32 length, request line JSON
///     token     u8 2, u32 request index (order of first appearance), u8 phase (0 prefill, 1 decode), i64 pos (-1 none),
///               per layer: i8 count (-1 null cell), then count x u16 expert ids;
///               weights per recorded layer: `topk` count x f32, `full` experts x f32, `none` nothing;
///               u8 lookahead depths, each: u8 depth, per layer i8 count (-1 null) and count x u16 ids
///     token with residency   u8 3, a token record's fields, then per non-null layer count x u8 flags (0/1): the
///               recorded cache residency (`resident`). Files without residency have no such record, so readers
///               older than it read them unchanged.
public enum BinaryTraceFormat {
    public static let magic = Array("MOETRACE".utf8)
    public static let version: UInt32 = 1
    /// Records per block: small enough to checksum as they stream, large enough to amortise the block header.
    static let recordsPerBlock = 4096
    static let requestRecord: UInt8 = 1
    static let tokenRecord: UInt8 = 2
    static let residentTokenRecord: UInt8 = 3
    static let blockHeaderBytes = 16

    /// FNV-1a (64-bit) taken a word at a time: eight bytes per step keeps checking cheap next to parsing.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = bytes.count / 8
        for i in 0..<words {
            hash ^= UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            hash &*= prime
        }
        for i in (words * 8)..<bytes.count {
            hash ^= UInt64(bytes[i])
            hash &*= prime
        }
        return hash
    }

    /// True when the file at `path` starts with the binary magic.
    public static func isBinary(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: magic.count)).map { Array($0) == magic } ?? false
    }
}

/// Writes the binary form, block by block.
public final class BinaryTraceWriter {
    private let file: AtomicOutputFile
    private let header: TraceHeader
    private var payload: [UInt8] = []
    private var records = 0
    private var requestIndex: [String: UInt32] = [:]

    /// The file appears at `close()`, whole (`AtomicOutputFile`); `path` must not exist unless `overwrite`.
    public init(path: String, header: TraceHeader, overwrite: Bool = false) throws {
        // Expert ids are stored in 16 bits.
        guard header.experts <= Int(UInt16.max) + 1 else {
            throw MoESimError(file: path, "the binary form holds at most \(Int(UInt16.max) + 1) experts per layer; this trace has \(header.experts)",
                              hint: "write JSONL instead (an output name ending in .jsonl)")
        }
        file = try AtomicOutputFile(path: path, overwrite: overwrite)
        self.header = header
        var start = BinaryTraceFormat.magic
        append(BinaryTraceFormat.version, to: &start)
        let json = Array(header.raw.serialized.utf8)
        append(UInt32(json.count), to: &start)
        start += json
        file.write(Data(start))
    }

    private func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private func index(of id: String, implicit: Bool) -> UInt32 {
        if let i = requestIndex[id] { return i }
        let i = UInt32(requestIndex.count)
        requestIndex[id] = i
        writeRequestRecord(RequestInfo(id: id), implicit: implicit)
        return i
    }

    private func writeRequestRecord(_ request: RequestInfo, implicit: Bool) {
        let text = TraceWriter()
        text.write(request: request)
        let json = Array(text.text.dropLast().utf8)
        payload.append(BinaryTraceFormat.requestRecord)
        payload.append(implicit ? 1 : 0)
        append(UInt32(json.count), to: &payload)
        payload += json
        recordWritten()
    }

    /// A request line.
    public func write(request: RequestInfo) {
        if requestIndex[request.id] == nil {
            requestIndex[request.id] = UInt32(requestIndex.count)
            writeRequestRecord(request, implicit: false)
        }
    }

    /// A token line of request `requestID`.
    public func write(token: TokenRecord, requestID: String) {
        let r = index(of: requestID, implicit: true)
        payload.append(token.hasResidency ? BinaryTraceFormat.residentTokenRecord : BinaryTraceFormat.tokenRecord)
        append(r, to: &payload)
        payload.append(token.phase == .prefill ? 0 : 1)
        append(Int64(token.position), to: &payload)
        for l in 0..<token.layers {
            let n = Int(token.counts[l])
            payload.append(UInt8(bitPattern: token.counts[l]))
            for i in 0..<max(0, n) { append(UInt16(token.experts[l * token.slotsPerLayer + i]), to: &payload) }
        }
        if header.weights != .none {
            for l in 0..<token.layers where token.counts[l] >= 0 {
                let width = header.weights == .full ? token.weightsPerLayer : Int(token.counts[l])
                for i in 0..<width { append(token.weights[l * token.weightsPerLayer + i].bitPattern, to: &payload) }
            }
        }
        let depths = (0..<token.aheadCounts.count).filter { !token.aheadCounts[$0].isEmpty }
        payload.append(UInt8(depths.count))
        for d in depths {
            payload.append(UInt8(d + 1))
            for l in 0..<token.layers {
                let n = Int(token.aheadCounts[d][l])
                payload.append(UInt8(bitPattern: token.aheadCounts[d][l]))
                for i in 0..<max(0, n) { append(UInt16(token.aheadExperts[d][l * token.aheadSlotsPerLayer + i]), to: &payload) }
            }
        }
        if token.hasResidency {
            for l in 0..<token.layers where token.counts[l] > 0 {
                for i in 0..<Int(token.counts[l]) { payload.append(UInt8(token.residency[l * token.slotsPerLayer + i])) }
            }
        }
        recordWritten()
    }

    private func recordWritten() {
        records += 1
        if records >= BinaryTraceFormat.recordsPerBlock { flushBlock() }
    }

    private func flushBlock() {
        guard records > 0 else { return }
        var block: [UInt8] = []
        append(UInt32(payload.count), to: &block)
        append(UInt32(records), to: &block)
        append(payload.withUnsafeBytes { BinaryTraceFormat.checksum($0) }, to: &block)
        file.write(Data(block + payload))
        payload.removeAll(keepingCapacity: true)
        records = 0
    }

    /// Writes the last block and the end marker and moves the file into place.
    public func close() throws {
        flushBlock()
        file.write(Data(repeating: 0, count: BinaryTraceFormat.blockHeaderBytes))
        try file.commit()
    }
}
