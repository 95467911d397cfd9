import Foundation
import Testing
@testable import MoESim

/// Fitted synthetic profiles: `sim trace fit`, the profiled generator behind `sim trace synth`, and the issue's
/// calibration claim (a synthetic trace matches the real one's per-layer LRU curve and reuse/popularity).
struct SyntheticProfileTests {
    static let realDecodeTrace = "humaneval-decode.moetrace.jsonl"
    static let shippedProfile = "mixtral-8x7b-humaneval"
    /// Capacities of the issue's LRU check: every per-layer cache size below Mixtral's 8 experts.
    static let capacities = 1...7
    /// Decode tokens synthesised for the check: 6x the real trace, so the synthetic side's own noise is small.
    static let syntheticTokens = 2000
    static let syntheticSeed: UInt64 = 2026
    /// The issue's tolerances: LRU hit rate within 0.05 absolute, reuse and popularity within 10 % relative.
    static let hitRateTolerance = 0.05
    static let relativeTolerance = 0.10

    /// The fit of the real trace, computed once for every test that needs it (fitting is the slow part).
    static let realFit: Result<SyntheticProfile, Error> = Result {
        var options = ProfileFitter.Options()
        options.name = shippedProfile
        return try ProfileFitter.fit(path: Fixtures.sharedTrace(realDecodeTrace), options: options)
    }

    /// One pass over a source of single-token decode passes: per-layer LRU hit rates at `capacities` (caches
    /// starting empty) and `sim trace stats`'s numbers. A decode pass's accesses are its token's experts in slot
    /// order (what `AccessStream` yields for top-k replay); `fitMeasuresWhatTraceStatsMeasures` checks that on the real trace.
    static func measure(_ source: PassSource) throws -> (lru: [[Double]], stats: TraceStatistics, overallLRU: [Double]) {
        let (layers, experts) = (source.header.layers, source.header.experts)
        let stack = LRUStackDistances(layers: layers, experts: experts, layout: .perLayer)
        let collector = TraceStatisticsCollector(header: source.header, sensitivity: nil)
        var pass = Pass()
        while try source.nextPass(into: &pass) {
            precondition(pass.phase == .decode && pass.tokenCount == 1)
            let token = pass.tokens[0]
            collector.add(token, weightsAreFull: false)
            for l in 0..<layers where token.counts[l] > 0 {
                for i in 0..<Int(token.counts[l]) { stack.access(l * experts + Int(token.experts[l * token.slotsPerLayer + i])) }
            }
        }
        let accesses = stack.accessesPerLayer
        let hits = capacities.map { stack.hits(capacity: $0) }
        let lru = (0..<layers).map { l in hits.map { Double($0[l]) / Double(accesses[l]) } }
        let stats = collector.finish(file: source.sourceName, header: source.header, requests: source.requests.count, nullCells: 0, sensitivitySource: nil)
        let overall = hits.map { Double($0.reduce(0, +)) / Double(accesses.reduce(0, +)) }
        return (lru, stats, overall)
    }

    static func synthetic(_ profile: SyntheticProfile, model: String = "mixtral-8x7b", tokens: Int = syntheticTokens, seed: UInt64 = syntheticSeed) throws -> ProfiledPassSource {
        var options = ProfiledTraceSynthesizer.Options()
        options.seed = seed
        return ProfiledPassSource(synthesizer: ProfiledTraceSynthesizer(profile: profile, model: try ModelCatalog.resolve(model), options: options), tokens: tokens)
    }

    // MARK: The issue's calibration check

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces (the real Mixtral HumanEval decode trace)"))
    func syntheticTraceMatchesTheRealLRUCurveReuseAndPopularity() throws {
        let profile = try Self.realFit.get()
        let (real, realStats, _) = try Self.measure(try TracePassSource(path: Fixtures.sharedTrace(Self.realDecodeTrace)))
        let (synthetic, synthStats, _) = try Self.measure(try Self.synthetic(profile))
        // Per layer and capacity, as the issue asks. Measured: largest deviation 0.030 (layer 27, capacity 2).
        var worst = (deviation: 0.0, layer: 0, capacity: 0)
        for l in 0..<profile.moeLayers {
            for (i, c) in Self.capacities.enumerated() {
                let deviation = abs(real[l][i] - synthetic[l][i])
                if deviation > worst.deviation { worst = (deviation, l, c) }
                #expect(deviation <= Self.hitRateTolerance, "layer \(l), capacity \(c): real \(real[l][i]), synthetic \(synthetic[l][i])")
            }
        }
        print("LRU hit-rate curve, capacities 1-7: largest per-layer deviation \(worst.deviation) (layer \(worst.layer), capacity \(worst.capacity))")

        // Reuse and popularity as `sim trace stats` reports them: the mean over layers. Per layer, the real
        // trace's 338 tokens leave these too noisy to compare at 10 %: between the first and second half of the
        // trace, a layer's Gini differs by 29 %, its hottest share by 14 % and its reuse by 19 % (medians over
        // layers). So per-layer values are printed, not asserted; measured: at most 16 %, 11 % and 9 %.
        for (name, r, s) in [("reuse", realStats.reuse!, synthStats.reuse!), ("hottest share", realStats.hottestShare!, synthStats.hottestShare!),
                             ("Gini", realStats.gini!, synthStats.gini!)] {
            let relative = abs(s - r) / r
            #expect(relative <= Self.relativeTolerance, "\(name): real \(r), synthetic \(s), relative deviation \(relative)")
            let perLayer = zip(realStats.perLayer, synthStats.perLayer).compactMap { a, b -> Double? in
                let pair: (Double?, Double?) = name == "reuse" ? (a.reuse, b.reuse) : name == "Gini" ? (a.gini, b.gini) : (a.hottestShare, b.hottestShare)
                guard let x = pair.0, let y = pair.1, x > 0 else { return nil }
                return abs(y - x) / x
            }
            print("\(name): real \(r), synthetic \(s) (relative \(relative)); per layer: largest relative deviation \(perLayer.max() ?? 0)")
        }
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces (the real Mixtral HumanEval decode trace)"))
    func fitMeasuresWhatTraceStatsMeasures() throws {
        let profile = try Self.realFit.get()
        let (_, stats, overall) = try Self.measure(try TracePassSource(path: Fixtures.sharedTrace(Self.realDecodeTrace)))
        // The overall LRU curve is `sim cache sweep`'s (README, `make cache-table`, 4 decimals): the
        // measurement replays the same accesses as the engine.
        let sweep = [0.0882, 0.3431, 0.4822, 0.6033, 0.7061, 0.8086, 0.9052]
        for (i, expected) in sweep.enumerated() { #expect(abs(overall[i] - expected) < 0.00005, "capacity \(i + 1): \(overall[i])") }
        #expect(profile.fittedTokens == 338 && profile.phase == "decode")
        for (l, layer) in profile.perLayer.enumerated() {
            #expect(abs(layer.measured.reuse! - stats.perLayer[l].reuse!) < 1e-5, "layer \(l)")
            #expect(abs(layer.measured.selectionShareByRank[0] - stats.perLayer[l].hottestShare!) < 1e-5, "layer \(l)")
            #expect(abs(layer.measured.meanTopWeight! - stats.perLayer[l].meanTopWeight!) < 1e-5, "layer \(l)")
        }
        // Decode lines per request: 83 (HumanEval/0) and 255 (HumanEval/1); both requests are tagged "code".
        #expect(profile.requests.outputTokens?.min == 83 && profile.requests.outputTokens?.max == 255)
        #expect(profile.requests.promptTokens == nil)
        #expect(profile.requests.tasks == [SyntheticProfile.TaskShare(task: "code", share: 1)])
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces (the real Mixtral HumanEval decode trace)"))
    func shippedProfileIsExactlyTheFitOfTheRealTrace() throws {
        var fitted = try Self.realFit.get()
        let shipped = try SyntheticProfileCatalog.resolve(Self.shippedProfile)
        // `source` quotes the command with the path as typed; everything else must be byte for byte the same.
        #expect(shipped.source.contains("sim trace fit ../shared/traces/mixtral-8x7b-vllm-fp8/\(Self.realDecodeTrace)"))
        fitted.source = shipped.source
        #expect(try fitted.jsonText() == (try shipped.jsonText()), "refit: see the command in the shipped profile's source")
    }

    // MARK: Format and determinism

    @Test func fitJSONDecodesToTheSameProfile() throws {
        let trace = Self.toyTrace()
        let r = Fixtures.sim(["trace", "fit", trace, "--calibration-rounds", "3", "--calibration-tokens", "200"])
        #expect(r.code == 0, "\(r.err)")
        let path = Fixtures.write(r.out, name: "toy-profile.json")
        let loaded = try SyntheticProfileCatalog.load(path: path)
        #expect(loaded.schema == SyntheticProfile.schemaTag && loaded.name == "toy")
        #expect(loaded.source.contains("sim trace fit \(trace) --phase decode --calibration-rounds 3 --calibration-tokens 200"))
        #expect(try loaded.jsonText() == r.out)
        // Same trace, same bytes; and the binary form of the trace fits to the same numbers.
        #expect(Fixtures.sim(["trace", "fit", trace, "--calibration-rounds", "3", "--calibration-tokens", "200"]).out == r.out)
        let binary = Fixtures.temporaryDirectory().appendingPathComponent("toy.moetrace").path
        #expect(Fixtures.sim(["trace", "convert", trace, binary]).code == 0)
        var fromBinary = try ProfileFitter.fit(path: binary, options: { var o = ProfileFitter.Options(); o.name = "toy"; o.calibration.rounds = 3; o.calibration.finalRoundTokens = 200; return o }())
        fromBinary.source = loaded.source
        #expect(try fromBinary.jsonText() == r.out)
    }

    @Test func synthIsDeterministic() {
        let args = ["trace", "synth", "--model", "mixtral-8x7b", "--requests", "2", "--prompt", "3", "--tokens", "5"]
        let a = Fixtures.sim(args + ["--seed", "9"]), b = Fixtures.sim(args + ["--seed", "9"]), c = Fixtures.sim(args + ["--seed", "10"])
        #expect(a.code == 0, "\(a.err)")
        #expect(a.out == b.out)
        #expect(a.out != c.out)
        // The header names the profile and the command that remakes the trace.
        #expect(a.out.contains("profile \(Self.shippedProfile)"))
        #expect(a.out.contains(#""generated_by":"sim trace synth --model mixtral-8x7b --profile mixtral-8x7b-humaneval --tokens 5 --prompt 3 --requests 2 --seed 9""#))
    }

    @Test func lengthsAndTasksComeFromTheProfileWhenNotGiven() throws {
        let r = Fixtures.sim(["trace", "synth", "--requests", "3", "--seed", "4"])
        #expect(r.code == 0, "\(r.err)")
        let reader = try TraceReader(path: Fixtures.write(r.out, name: "s.moetrace.jsonl"), missingCells: .error)
        var decode = 0, prefill = 0
        while let item = try reader.next() {
            if case .token = item { if reader.token.phase == .decode { decode += 1 } else { prefill += 1 } }
        }
        // The shipped profile's output lengths lie between its two requests' 83 and 255; it knows no prompts.
        #expect(reader.requests.count == 3 && prefill == 0)
        #expect(reader.requests.allSatisfy { $0.task == "code" && (83...255).contains($0.outputTokens ?? 0) })
        #expect(decode == reader.requests.reduce(0) { $0 + $1.outputTokens! })
    }

    @Test func zipfKnobsStillWork() {
        let a = Fixtures.sim(["trace", "synth", "--profile", "zipf", "--tokens", "4", "--seed", "3"])
        let b = Fixtures.sim(["trace", "synth", "--skew", "0.8", "--tokens", "4", "--seed", "3"])
        #expect(a.code == 0 && a.out == b.out, "\(a.err)")
        #expect(a.out.contains("SyntheticTraceGenerator"))
        let mixed = Fixtures.sim(["trace", "synth", "--profile", Self.shippedProfile, "--reuse", "0.5"])
        #expect(mixed.code == 1 && mixed.err.contains("field '--reuse'") && mixed.err.contains("zipf"))
    }

    // MARK: Other model shapes

    @Test(arguments: ["olmoe-1b-7b", "qwen3-30b-a3b", "deepseek-v2-lite"])
    func generatesValidTracesForOtherShapes(model name: String) throws {
        let model = try ModelCatalog.resolve(name)
        let r = Fixtures.sim(["trace", "synth", "--model", name, "--tokens", "30", "--prompt", "2", "--seed", "1"])
        #expect(r.code == 0, "\(r.err)")
        // The reader enforces every format rule: ids in range, no duplicates, top_k per cell, weights summing to 1.
        let reader = try TraceReader(path: Fixtures.write(r.out, name: "\(name).moetrace.jsonl"), missingCells: .error)
        #expect(reader.header.experts == model.experts && reader.header.topK == model.topK && reader.header.sharedExperts == model.sharedExperts)
        #expect(reader.header.raw["adaptation"]?.stringValue?.contains("not calibrated for this shape") == true)
        var tokens = 0
        var used = Set<Int32>()
        while let item = try reader.next() {
            guard case .token = item else { continue }
            tokens += 1
            for l in 0..<reader.header.layers {
                #expect(reader.token.counts[l] == Int8(model.topK))
                let weights = (0..<model.topK).map { reader.token.weights[l * model.topK + $0] }
                #expect(weights == weights.sorted(by: >), "weights are listed highest first")
                for i in 0..<model.topK { used.insert(reader.token.experts[l * reader.token.slotsPerLayer + i]) }
            }
        }
        #expect(tokens == 32)
        // Experts beyond the profile's 8 are used too: the popularity curve was resampled, not truncated.
        #expect(used.count > model.experts / 2)
    }

    @Test func adaptedRecencyKeepsReuseAboveUniform() throws {
        // 64 experts top-8: a uniform draw would keep k/E = 12.5 % of the previous token's experts.
        let profile = try SyntheticProfileCatalog.resolve(Self.shippedProfile)
        let stats = try Self.measure(try Self.synthetic(profile, model: "olmoe-1b-7b", tokens: 200, seed: 1)).stats
        #expect(stats.reuse! > 1.5 * stats.reuseIfUniform, "reuse \(stats.reuse!) vs uniform \(stats.reuseIfUniform)")
        #expect(stats.hottestShare! > 1.5 / 64)
    }

    // MARK: Bad input

    @Test func badProfileNamesTheFileAndTheField() throws {
        let shipped = try String(contentsOf: ResourceLocator.resourcesDirectory.appendingPathComponent("profiles/\(Self.shippedProfile).json"), encoding: .utf8)
        func synth(_ text: String) -> (code: Int32, out: String, err: String) {
            let path = Fixtures.write(text, name: "bad-profile.json")
            let r = Fixtures.sim(["trace", "synth", "--profile", path, "--tokens", "2"])
            #expect(r.err.contains(path), "the error names the file: \(r.err)")
            return r
        }
        let negative = synth(shipped.replacingOccurrences(of: #""propensityByRank": ["#, with: #""propensityByRank": [-"#))
        #expect(negative.code == 1 && negative.err.contains("field 'perLayer[0].generator.propensityByRank[0]'"), "\(negative.err)")
        let missing = synth(shipped.replacingOccurrences(of: #""successorBoost":"#, with: #""successorBoostTypo":"#))
        #expect(missing.code == 1 && missing.err.contains("field 'perLayer[0].generator.successorBoostTypo': unknown field")
                && missing.err.contains("did you mean 'successorBoost'? it is required and missing"), "\(missing.err)")
        let schema = synth(shipped.replacingOccurrences(of: SyntheticProfile.schemaTag, with: "moe-sim/synth-profile/9"))
        #expect(schema.code == 1 && schema.err.contains("field 'schema'"), "\(schema.err)")
        let layers = synth(shipped.replacingOccurrences(of: #""moeLayers": 32"#, with: #""moeLayers": 31"#))
        #expect(layers.code == 1 && layers.err.contains("field 'perLayer'") && layers.err.contains("moeLayers = 31"), "\(layers.err)")
        let unknown = Fixtures.sim(["trace", "synth", "--profile", "mixtral-humaneval"])
        #expect(unknown.code == 1 && unknown.err.contains("unknown synthetic profile") && unknown.err.contains(Self.shippedProfile), "\(unknown.err)")
    }

    @Test func fitRejectsATraceWithoutThePhase() {
        let r = Fixtures.sim(["trace", "fit", Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]], phase: "prefill"), name: "p.moetrace.jsonl")])
        #expect(r.code == 1 && r.err.contains("has no decode tokens to fit") && r.err.contains("--phase all"), "\(r.err)")
        let bad = Fixtures.sim(["trace", "fit", "x.jsonl", "--phase", "decoding"])
        #expect(bad.code == 1 && bad.err.contains("field '--phase'"))
        let prefill = Fixtures.sim(["trace", "fit", Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]], [[1, 0], [2, 3]]], phase: "prefill"), name: "p.moetrace.jsonl"),
                                    "--phase", "prefill", "--calibration-rounds", "1", "--calibration-tokens", "10"])
        #expect(prefill.code == 0 && prefill.out.contains(#""phase": "prefill""#), "\(prefill.err)")
    }

    /// A toy decode trace (2 layers, 4 experts, top-2) with reuse and a skew, long enough to fit.
    static func toyTrace() -> String {
        var rng = SeededGenerator(seed: 11)
        var tokens: [[[Int]]] = []
        var previous = [[0, 1], [2, 3]]
        for _ in 0..<60 {
            let token = previous.map { cell -> [Int] in
                let keep = rng.nextUnit() < 0.5 ? cell[0] : [0, 0, 1, 2, 3][rng.nextInt(below: 5)]
                var other = [0, 1, 1, 2, 3][rng.nextInt(below: 5)]
                while other == keep { other = (other + 1) % 4 }
                return [keep, other]
            }
            tokens.append(token)
            previous = token
        }
        return Fixtures.write(Fixtures.trace(tokens), name: "toy.moetrace.jsonl")
    }
}
