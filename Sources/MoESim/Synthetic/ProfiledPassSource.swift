/// Decode passes drawn from a fitted profile on the fly (constant memory): the profile-based counterpart of
/// `SyntheticPassSource`, for cache sweeps, benchmarks and tests that replay synthetic routing without a file.
public final class ProfiledPassSource: PassSource {
    public let header: TraceHeader
    public private(set) var requests: [RequestInfo] = [RequestInfo(id: "synthetic/0")]
    public let missingCellCount = 0
    public let sourceName: String
    private let synthesizer: ProfiledTraceSynthesizer
    private let tables: ProfiledRoutingTables
    private let seed: UInt64
    private let tokens: Int
    private var generator: ProfiledRoutingGenerator
    private var record: TokenRecord
    private var produced = 0

    public init(synthesizer: ProfiledTraceSynthesizer, tokens: Int) {
        tables = synthesizer.tables
        seed = synthesizer.options.seed
        header = synthesizer.header(tables: tables)
        generator = ProfiledRoutingGenerator(tables: tables, seed: seed)
        record = generator.makeRecord()
        self.tokens = tokens
        sourceName = "synthetic(profile \(synthesizer.profile.name), \(synthesizer.model.name), \(tokens) decode tokens, seed \(seed))"
        self.synthesizer = synthesizer
    }

    public func reopen() throws -> PassSource { ProfiledPassSource(synthesizer: synthesizer, tokens: tokens) }

    public func nextPass(into pass: inout Pass) throws -> Bool {
        pass.removeAll()
        guard produced < tokens else { return false }
        generator.next(into: &record)
        record.phase = .decode
        record.position = produced
        pass.phase = .decode
        pass.request = 0
        // Context grows with the sequence but is capped so KV memory stays bounded over long runs.
        pass.append(record, context: produced % SyntheticPassSource.contextCap + 1)
        produced += 1
        return true
    }
}
