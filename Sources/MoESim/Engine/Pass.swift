/// One forward pass: the tokens that go through the model together. In trace replay a pass is one decode
/// token, or all consecutive prefill tokens of one request (the prompt batch).
public struct Pass {
    public var phase: Phase = .decode
    /// Request of the pass (trace replay passes hold one request's tokens).
    public var request: Int = 0
    /// Storage reused between passes; only the first `tokenCount` are valid.
    public var tokens: [TokenRecord] = []
    public var tokenCount = 0
    /// Context length (positions attended, itself included) of each token.
    public var contexts: [Int] = []

    public init() {}

    public var validTokens: ArraySlice<TokenRecord> { tokens[0..<tokenCount] }

    /// Appends a copy of `record`, reusing storage from earlier passes.
    public mutating func append(_ record: TokenRecord, context: Int) {
        if tokenCount < tokens.count {
            tokens[tokenCount].assign(from: record)
            contexts[tokenCount] = context
        } else {
            tokens.append(record)
            contexts.append(context)
        }
        tokenCount += 1
    }

    public mutating func removeAll() { tokenCount = 0 }
}

extension TokenRecord {
    @inline(__always) static func copyElements<T>(from source: [T], to destination: inout [T]) {
        guard !source.isEmpty else { return }
        destination.withUnsafeMutableBufferPointer { dst in
            source.withUnsafeBufferPointer { src in dst.baseAddress!.update(from: src.baseAddress!, count: src.count) }
        }
    }

    /// Copies routing from `other` element by element, so neither record's storage is reallocated.
    public mutating func assign(from other: TokenRecord) {
        request = other.request
        phase = other.phase
        position = other.position
        if counts.count == other.counts.count && experts.count == other.experts.count && weights.count == other.weights.count {
            TokenRecord.copyElements(from: other.counts, to: &counts)
            TokenRecord.copyElements(from: other.experts, to: &experts)
            TokenRecord.copyElements(from: other.weights, to: &weights)
        } else {
            self = other
        }
        if !other.aheadCounts.isEmpty || !aheadCounts.isEmpty {
            aheadCounts = other.aheadCounts
            aheadExperts = other.aheadExperts
        }
    }
}

/// Supplies passes to the simulation, one at a time, in the order they run.
public protocol PassSource: AnyObject {
    var header: TraceHeader { get }
    /// Fills `pass` with the next pass; false at the end.
    func nextPass(into pass: inout Pass) throws -> Bool
    /// Requests seen so far (index = `TokenRecord.request`).
    var requests: [RequestInfo] { get }
    var missingCellCount: Int { get }
    /// Name for reports (the trace file).
    var sourceName: String { get }
    /// A new source over the same passes from the start (for look-ahead and profiling passes).
    func reopen() throws -> PassSource
}

/// Replays a moe-trace file: consecutive prefill lines of one request form one pass, each decode line is a pass.
public final class TracePassSource: PassSource {
    public let reader: TraceRecordSource
    private let allowWiderCells: Bool
    private var held = false
    private var tokensSeen: [Int] = []

    public init(path: String, missingCells: MissingCellPolicy = .skip, allowWiderCells: Bool = false) throws {
        reader = try openTrace(path: path, missingCells: missingCells, allowWiderCells: allowWiderCells)
        self.allowWiderCells = allowWiderCells
    }

    public func reopen() throws -> PassSource {
        try TracePassSource(path: reader.path, missingCells: reader.missingCells, allowWiderCells: allowWiderCells)
    }

    public var header: TraceHeader { reader.header }
    public var requests: [RequestInfo] { reader.requests }
    public var missingCellCount: Int { reader.missingCellCount }
    public var sourceName: String { reader.path }

    private func contextOf(_ token: TokenRecord) -> Int {
        while tokensSeen.count <= token.request { tokensSeen.append(0) }
        let context = token.position >= 0 ? token.position + 1 : tokensSeen[token.request] + 1
        tokensSeen[token.request] = context
        return context
    }

    public func nextPass(into pass: inout Pass) throws -> Bool {
        pass.removeAll()
        while true {
            if !held {
                guard let item = try reader.next() else { break }
                if case .request = item { continue }
            }
            held = false
            let token = reader.token
            if pass.tokenCount > 0 {
                // A prefill pass continues only with further prefill tokens of the same request.
                if token.phase != .prefill || pass.phase != .prefill || token.request != pass.request {
                    held = true
                    return true
                }
            } else {
                pass.phase = token.phase
                pass.request = token.request
            }
            pass.append(token, context: contextOf(token))
            if token.phase == .decode { return true }
        }
        return pass.tokenCount > 0
    }
}
