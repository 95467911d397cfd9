import Foundation
import Testing
@testable import MoESim

/// The peer system presets (`moe-infinity`, `edgemoe`, `promoe`) and the shipped fine-grained synthetic traces.
@Suite struct PeerPolicySystemTests {
    static let systems = ["moe-infinity": ("min-visit-global:fit", "moe-infinity"), "edgemoe": ("edgemoe-global:fit", "edgemoe"),
                          "promoe": ("lru-global:fit", "promoe")]

    static func shipped(_ name: String) -> String { Fixtures.repositoryRoot.appendingPathComponent("traces/\(name)").path }

    /// The shipped trace cut to each request's prompt and first `decode` decode tokens (a fast smoke run that still
    /// has two requests, which MoE-Infinity needs to match anything).
    static func shortened(_ name: String, decode: Int) throws -> String {
        let lines = try String(contentsOfFile: shipped(name), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        var kept: [Substring] = [lines[0]]
        var decodeSeen: [String: Int] = [:]
        for line in lines.dropFirst() {
            let value = try JSONValue.parse(String(line))
            if value["phase"]?.stringValue == "decode", let request = value["request"]?.stringValue {
                decodeSeen[request, default: 0] += 1
                if decodeSeen[request]! > decode { continue }
            }
            kept.append(line)
        }
        return Fixtures.write(kept.joined(separator: "\n") + "\n", name: "short.moetrace.jsonl")
    }

    @Test func thePresetsNameTheirPoliciesAndFollowAPeerSection() throws {
        for (name, (cache, prefetch)) in PeerPolicySystemTests.systems {
            let preset = try SystemCatalog.resolve(name)
            #expect(preset.settings["cache"] == cache && preset.settings["prefetch"] == prefetch && preset.settings["gating"] == "topk")
            #expect(preset.settings["runtime"] == "tuned")
            #expect(preset.follows.contains("peers.md §1."), "\(name)")
            #expect(preset.deviations?.contains("Quality: exact") == true, "\(name)")
        }
    }

    /// Each preset runs on the fine-grained OLMoE trace (2 requests, prompt + 16 decode tokens) on a 12 GB GPU where
    /// not every expert fits: it speculates, and replays the recorded routing exactly (no gating report: nothing was
    /// dropped or substituted).
    @Test func eachPresetRunsOnTheShippedFineGrainedTrace() throws {
        let trace = try PeerPolicySystemTests.shortened("olmoe-1b-7b-synth.moetrace.jsonl", decode: 16)
        for (name, (cache, prefetch)) in PeerPolicySystemTests.systems.sorted(by: { $0.key < $1.key }) {
            let r = Fixtures.sim(["run", "--system", name, "--trace", trace, "--hardware", "rtx3060-12g", "--json"])
            #expect(r.code == 0, "\(name): \(r.err)")
            let report = try JSONValue.parse(r.out)
            #expect(report["configuration"]?["cache"]?.stringValue == cache)
            #expect(report["configuration"]?["prefetch"]?.stringValue == prefetch)
            #expect(report["decode"]?["tokens"]?.numberValue == 32)
            #expect(report["gating"] == nil, "\(name) must replay the routing exactly")
            #expect((report["prefetch"]?["issued"]?.numberValue ?? 0) > 0, "\(name)")
            let hits = report["cache"]?["hitRate"]?.numberValue ?? -1
            #expect(hits > 0 && hits < 1, "\(name)")
        }
    }

    /// The shipped fine-grained traces: the models' shapes, two requests of a 32-token prompt and 128 decode tokens,
    /// the command in the header, small enough to ship.
    @Test func theShippedFineGrainedTracesAreWhatTheReadmeSays() throws {
        for (file, model, layers, experts) in [("olmoe-1b-7b-synth.moetrace.jsonl", "olmoe-1b-7b", 16, 64),
                                               ("qwen3-30b-a3b-synth.moetrace.jsonl", "qwen3-30b-a3b", 48, 128)] {
            let path = PeerPolicySystemTests.shipped(file)
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            #expect(size > 0 && size < 1_500_000, "\(file): \(size) bytes")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let lines = text.split(separator: "\n")
            let header = try JSONValue.parse(String(lines[0]))
            #expect(header["model"]?.stringValue == model && header["layers"]?.numberValue == Double(layers)
                    && header["experts"]?.numberValue == Double(experts) && header["top_k"]?.numberValue == 8)
            #expect(header["generated_by"]?.stringValue == "sim trace synth --model \(model) --profile mixtral-8x7b-humaneval --tokens 128 --prompt 32 --requests 2 --seed 7")
            #expect(lines.count == 1 + 2 * (1 + 32 + 128))
            #expect(lines.filter { $0.contains(#""phase":"decode""#) }.count == 256)
        }
    }
}
