/// Writes a whole synthetic trace from a profile: requests one after another, each a prompt (prefill tokens)
/// then its output (decode tokens), with routing from `ProfiledRoutingGenerator`. Lengths and tasks not fixed
/// by the caller are drawn from the profile's request distributions. Same inputs, same bytes.
///
/// Prefill tokens get the same routing statistics as the profile's fitted phase (decode by default): the
/// generator has one token-level process, and a prefill pass's access stream is the union of its tokens'.
public struct ProfiledTraceSynthesizer {
    public struct Options: Sendable {
        public var requests = 1
        /// Decode tokens per request; nil: drawn from the profile (or `fallbackOutputTokens` if it has none).
        public var outputTokens: Int?
        /// Prompt tokens per request; nil: drawn from the profile (or 0 if it has none).
        public var promptTokens: Int?
        public var seed: UInt64 = 1
        /// Recorded in the header as `generated_by`.
        public var command: String?
        public init() {}
    }

    /// Output length when neither the caller nor the profile gives one (the plain generator's default).
    public static let fallbackOutputTokens = 256
    /// Salt of the request-structure random stream, kept apart from the routing stream so that fixing a length
    /// on the command line does not change the routing of other tokens.
    static let workloadSalt: UInt64 = 0x574F_524B

    public let profile: SyntheticProfile
    public let model: ModelSpec
    public let options: Options

    public init(profile: SyntheticProfile, model: ModelSpec, options: Options) {
        self.profile = profile
        self.model = model
        self.options = options
    }

    public var tables: ProfiledRoutingTables {
        ProfileShapeAdapter.tables(for: profile, layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: options.seed)
    }

    public func header(tables: ProfiledRoutingTables) -> TraceHeader {
        var extra: [(String, JSONValue)] = [("source", .string("moe-sim ProfiledRoutingGenerator (not a recorded trace); profile \(profile.name): \(profile.source)"))]
        if let adaptation = tables.adaptation { extra.append(("adaptation", .string(adaptation))) }
        if let command = options.command { extra.append(("generated_by", .string(command))) }
        return TraceHeader(model: model.name, layers: model.moeLayers, experts: model.experts, topK: model.topK, weights: .topk,
                           sharedExperts: model.sharedExperts, extra: extra)
    }

    /// Writes the trace; returns the number of token lines.
    @discardableResult
    public func write(to writer: TraceWriter) -> Int {
        let tables = self.tables
        let header = header(tables: tables)
        writer.write(header: header)
        var routing = ProfiledRoutingGenerator(tables: tables, seed: options.seed)
        var workload = SeededGenerator(seed: options.seed ^ ProfiledTraceSynthesizer.workloadSalt)
        var record = routing.makeRecord()
        var lines = 0
        for r in 0..<options.requests {
            let prompt = options.promptTokens ?? profile.requests.promptTokens.map { draw($0, &workload) } ?? 0
            let output = options.outputTokens ?? profile.requests.outputTokens.map { draw($0, &workload) } ?? ProfiledTraceSynthesizer.fallbackOutputTokens
            let task = drawTask(&workload) ?? "synthetic"
            let id = "synth/\(r)"
            writer.write(request: RequestInfo(id: id, task: task, promptTokens: prompt > 0 ? prompt : nil, outputTokens: output))
            for p in 0..<(prompt + output) {
                routing.next(into: &record)
                record.phase = p < prompt ? .prefill : .decode
                record.position = p
                writer.write(token: record, requestID: id, header: header)
                lines += 1
            }
        }
        return lines
    }

    /// Inverse CDF over the profile's quantiles.
    func draw(_ d: SyntheticProfile.LengthDistribution, _ rng: inout SeededGenerator) -> Int {
        let position = rng.nextUnit() * Double(d.quantiles.count - 1)
        let value = ProfileShapeAdapter.interpolate(d.quantiles, at: position)
        return max(0, Int(value.rounded()))
    }

    func drawTask(_ rng: inout SeededGenerator) -> String? {
        guard !profile.requests.tasks.isEmpty else { return nil }
        let u = rng.nextUnit() * profile.requests.tasks.reduce(0) { $0 + $1.share }
        var running = 0.0
        for t in profile.requests.tasks {
            running += t.share
            if u < running { return t.task }
        }
        return profile.requests.tasks.last!.task
    }
}
