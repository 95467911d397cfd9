/// Decode passes generated on the fly (constant memory), for benchmarks and soak runs.
public final class SyntheticPassSource: PassSource {
    public let header: TraceHeader
    public private(set) var requests: [RequestInfo] = [RequestInfo(id: "synthetic/0")]
    public let missingCellCount = 0
    public let sourceName: String
    private var generator: SyntheticTraceGenerator
    private var record: TokenRecord
    private let tokens: Int
    private var produced = 0
    private let model: ModelSpec
    private let seed: UInt64
    private let parameters: SyntheticTraceGenerator.Parameters

    public init(model: ModelSpec, tokens: Int, seed: UInt64, parameters: SyntheticTraceGenerator.Parameters = .init()) {
        generator = SyntheticTraceGenerator(layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: seed, parameters: parameters)
        header = generator.header(model: model.name, sharedExperts: model.sharedExperts)
        record = generator.makeRecord()
        self.tokens = tokens
        self.model = model
        self.seed = seed
        self.parameters = parameters
        sourceName = "synthetic(\(model.name), \(tokens) decode tokens, seed \(seed))"
    }

    public func reopen() throws -> PassSource { SyntheticPassSource(model: model, tokens: tokens, seed: seed, parameters: parameters) }

    public func nextPass(into pass: inout Pass) throws -> Bool {
        pass.removeAll()
        guard produced < tokens else { return false }
        generator.next(into: &record)
        record.phase = .decode
        record.position = produced
        pass.phase = .decode
        pass.request = 0
        // Context grows with the sequence but is capped so KV memory stays bounded over long soak runs.
        pass.append(record, context: produced % SyntheticPassSource.contextCap + 1)
        produced += 1
        return true
    }

    static let contextCap = 2048
}
