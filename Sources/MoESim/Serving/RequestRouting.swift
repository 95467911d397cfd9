/// Where each request's expert choices come from: a recorded trace, or a synthetic generator per task.
/// A stream yields a request's processed tokens in order (prompt, then generated tokens).
public protocol RequestRoutingModel: AnyObject {
    var layers: Int { get }
    var experts: Int { get }
    /// Expert slots per token and layer (top-k).
    var slots: Int { get }
    /// A fresh stream over `request`'s tokens; the same request always gives the same routing.
    func stream(for request: ServingRequest) -> RequestRoutingStream
    /// How task `task`'s routing is produced, for the report ("recorded: FILE" or "synthetic: ...").
    func sourceDescription(task: Int) -> String
}

public protocol RequestRoutingStream: AnyObject {
    /// Writes the next token's choices, `layers * slots` expert ids, highest router weight first in each layer;
    /// -1 marks an empty slot (a lost recorder cell, or a cell with fewer than top-k experts).
    func next(into buffer: UnsafeMutablePointer<Int32>)
}

extension RequestRoutingModel {
    /// Selections per (layer, expert) over all of `request`'s processed tokens, `layer * experts + expert`:
    /// what an oracle predictor knows before the request runs.
    public func selectionCounts(for request: ServingRequest) -> [Double] {
        var counts = Array(repeating: 0.0, count: layers * experts)
        let source = stream(for: request)
        var token = Array(repeating: Int32(-1), count: layers * slots)
        token.withUnsafeMutableBufferPointer { buffer in
            for _ in 0..<max(0, request.processedTokens) {
                source.next(into: buffer.baseAddress!)
                for l in 0..<layers {
                    for s in 0..<slots {
                        let e = buffer[l * slots + s]
                        if e >= 0 { counts[l * experts + Int(e)] += 1 }
                    }
                }
            }
        }
        return counts
    }
}

/// Synthetic routing per task from a fitted profile (`ProfiledRoutingGenerator`): every task has the profile's
/// per-layer popularity skew, LRU reuse and cross-layer correlation, but its own preferred experts: each layer's
/// expert-by-popularity-rank order is reshuffled per task (each rank swapped with a random one with probability
/// `taskDivergence`). eMoE measures that tasks prefer different experts (Fig. 3 heatmaps, papers.md §2.3) but
/// publishes no per-task tables, so the divergence is an estimate. Requests of one task draw independently from
/// the same process, which gives the cross-request correlation eMoE's periodic predictor relies on.
public final class SyntheticRequestRouting: RequestRoutingModel {
    public let layers: Int
    public let experts: Int
    public let slots: Int
    public let profileName: String
    public let taskDivergence: Double
    let taskTables: [ProfiledRoutingTables]
    let taskNames: [String]
    /// Salt of the per-task reshuffle: a property of the task, not of the run's seed.
    static let taskSalt: UInt64 = 0x5441_534B

    public init(profile: SyntheticProfile, model: ModelSpec, tasks: ServingTaskSet, taskDivergence: Double) {
        layers = model.moeLayers
        experts = model.experts
        slots = model.topK
        profileName = profile.name
        self.taskDivergence = taskDivergence
        taskNames = tasks.tasks.map(\.name)
        let base = ProfileShapeAdapter.tables(for: profile, layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: 1)
        taskTables = tasks.tasks.map { task in
            var tables = base
            var rng = SeededGenerator(seed: SyntheticRequestRouting.taskSalt ^ SyntheticRequestRouting.stableHash(task.name))
            for l in 0..<model.moeLayers {
                for r in 0..<model.experts where rng.nextUnit() < taskDivergence {
                    tables.expertOfRank.swapAt(l * model.experts + r, l * model.experts + rng.nextInt(below: model.experts))
                }
            }
            return tables
        }
    }

    /// FNV-1a of the name's bytes: stable across runs and platforms (unlike `hashValue`).
    static func stableHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    public func stream(for request: ServingRequest) -> RequestRoutingStream {
        Stream(generator: ProfiledRoutingGenerator(tables: taskTables[request.task], seed: request.routingSeed), layers: layers, slots: slots)
    }

    public func sourceDescription(task: Int) -> String {
        "synthetic: profile \(profileName) (ProfiledRoutingGenerator), experts reshuffled for \(taskNames[task]) with divergence \(taskDivergence)"
    }

    final class Stream: RequestRoutingStream {
        var generator: ProfiledRoutingGenerator
        var record: TokenRecord
        let count: Int

        init(generator: ProfiledRoutingGenerator, layers: Int, slots: Int) {
            self.generator = generator
            record = generator.makeRecord()
            count = layers * slots
        }

        func next(into buffer: UnsafeMutablePointer<Int32>) {
            generator.next(into: &record)
            record.experts.withUnsafeBufferPointer { src in buffer.update(from: src.baseAddress!, count: count) }
        }
    }
}

/// Routing replayed from a recorded moe-trace: each workload request replays one recorded request's tokens
/// (prefill lines, then decode lines), starting over from its first token if the workload request is longer.
public final class RecordedRequestRouting: RequestRoutingModel {
    public let layers: Int
    public let experts: Int
    public let slots: Int
    public let path: String
    /// Per recorded request: its tokens' choices, `token * layers * slots + layer * slots + slot`.
    public let tokens: [[Int32]]
    public let recorded: [RequestInfo]
    /// Prefill and decode lines per recorded request.
    public let prefillTokens: [Int]
    public let decodeTokens: [Int]

    public init(path: String, model: ModelSpec) throws {
        let reader = try openTrace(path: path, missingCells: .skip)
        let h = reader.header
        guard h.layers == model.moeLayers, h.experts == model.experts else {
            throw MoESimError(file: path, field: "header", "trace has \(h.layers) layers x \(h.experts) experts, model \(model.name) has \(model.moeLayers) x \(model.experts)",
                              hint: "pass the trace's model with --model")
        }
        layers = h.layers
        experts = h.experts
        slots = h.topK
        self.path = path
        var tokens: [[Int32]] = []
        var prefill: [Int] = [], decode: [Int] = []
        while let item = try reader.next() {
            guard case .token = item else { continue }
            let t = reader.token
            while tokens.count <= t.request { tokens.append([]); prefill.append(0); decode.append(0) }
            for l in 0..<layers {
                let n = Int(t.counts[l])
                for s in 0..<slots { tokens[t.request].append(s < n ? t.experts[l * t.slotsPerLayer + s] : -1) }
            }
            if t.phase == .prefill { prefill[t.request] += 1 } else { decode[t.request] += 1 }
        }
        recorded = reader.requests
        while tokens.count < recorded.count { tokens.append([]); prefill.append(0); decode.append(0) }
        guard tokens.contains(where: { !$0.isEmpty }) else { throw MoESimError(file: path, "the trace has no token lines to replay") }
        self.tokens = tokens
        prefillTokens = prefill
        decodeTokens = decode
    }

    public func stream(for request: ServingRequest) -> RequestRoutingStream {
        Stream(tokens: tokens[request.recordedRequest ?? 0], width: layers * slots)
    }

    public func sourceDescription(task: Int) -> String { "recorded: \(path)" }

    final class Stream: RequestRoutingStream {
        let tokens: [Int32]
        let width: Int
        var offset = 0

        init(tokens: [Int32], width: Int) {
            self.tokens = tokens
            self.width = width
        }

        func next(into buffer: UnsafeMutablePointer<Int32>) {
            guard !tokens.isEmpty else {
                buffer.update(repeating: -1, count: width)
                return
            }
            if offset >= tokens.count { offset = 0 }
            tokens.withUnsafeBufferPointer { src in buffer.update(from: src.baseAddress! + offset, count: width) }
            offset += width
        }
    }
}
