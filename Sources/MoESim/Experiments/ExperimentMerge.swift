import Foundation

/// Shards and their merge. A shard (`sim experiment run NAME --shard i/N`) runs the plan's runs with
/// index mod N = i and writes `shard.json`: the spec as read, the shared folder, and those runs' outcomes.
/// `sim experiment merge OUT SHARD_DIRS...` checks that the shards are the N parts of one plan and writes the
/// same results an unsharded run writes (same bytes: the same code renders both from the complete outcomes).
public enum ExperimentMerge {
    public static let shardSchema = "moe-sim/experiment-shard/1"
    public static let shardFile = "shard.json"

    /// The contents of one shard's `shard.json`.
    public static func shardJSON(plan: ExperimentPlan, shard: Shard, outcomes: [RunOutcome]) -> String {
        PrettyJSON.render(.object([
            ("schema", .string(shardSchema)),
            ("experiment", .string(plan.spec.name)),
            ("shard", .string(shard.description)),
            ("runCount", .number(Double(plan.runs.count))),
            ("shared", .string(plan.sharedDirectory)),
            ("spec", plan.spec.raw),
            ("runs", .array(outcomes.map { outcome in
                let run = plan.runs[outcome.index]
                var members: [(String, JSONValue)] = [("index", .number(Double(run.index))), ("label", .string(run.label)),
                                                      ("command", .string(run.command))]
                members += ExperimentResults.statusMembers(outcome.status)
                if let report = outcome.report { members.append(("report", report)) }
                return .object(members)
            })),
        ]))
    }

    struct ShardContents {
        var path: String
        var experiment: String
        var shard: Shard
        var runCount: Int
        var shared: String
        var spec: JSONValue
        var outcomes: [RunOutcome]
        var commands: [Int: String]
    }

    /// Reads `DIR/shard.json` (or the file itself when given one).
    static func readShard(_ location: String) throws -> ShardContents {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory)
        let path = exists && isDirectory.boolValue ? URL(fileURLWithPath: location).appendingPathComponent(shardFile).path : location
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw MoESimError(file: path, "cannot read the shard", hint: "give the folders `sim experiment run NAME --shard i/N --out DIR` wrote")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw MoESimError(file: path, "not valid JSON: \(error)") }
        let root = SpecField(value: json, path: "", file: path)
        _ = try root.object(allowed: ["schema", "experiment", "shard", "runCount", "shared", "spec", "runs"])
        let schema = try root.required("schema").string()
        guard schema == shardSchema else {
            throw root.child("schema", .null).error("is '\(schema)', expected '\(shardSchema)'", hint: "was it written by another version of moe-sim?")
        }
        let shardField = try root.required("shard")
        let shard: Shard
        do { shard = try Shard.parse(try shardField.string()) } catch let error as MoESimError { throw shardField.error(error.message) }
        let runCountField = try root.required("runCount")
        let runCount = try runCountField.number()
        guard runCount >= 0, runCount == runCount.rounded(), runCount <= Double(ExperimentSpec.maxRuns) else {
            throw runCountField.error("expected a count of runs (0 ... \(ExperimentSpec.maxRuns))")
        }
        var outcomes: [RunOutcome] = []
        var commands: [Int: String] = [:]
        for runField in try root.required("runs").array() {
            _ = try runField.object(allowed: ["index", "label", "command", "status", "reason", "error", "report"])
            let indexField = try runField.required("index")
            let number = try indexField.number()
            guard number >= 0, number < runCount, number == number.rounded() else {
                throw indexField.error("run \(JSONValue.format(number)) is outside the plan's \(Int(runCount)) runs")
            }
            let index = Int(number)
            guard shard.contains(index) else { throw indexField.error("run \(index) does not belong to shard \(shard)") }
            commands[index] = try runField.required("command").string()
            let statusField = try runField.required("status")
            let status: RunOutcome.Status
            switch try statusField.string() {
            case "ok": status = .ok(try runField.required("report").value)
            case "skipped": status = .skipped(try runField.required("reason").string())
            case "failed": status = .failed(try runField.required("error").string())
            case let other: throw statusField.error("unknown status '\(other)'")
            }
            outcomes.append(RunOutcome(index: index, status: status))
        }
        return ShardContents(path: path, experiment: try root.required("experiment").string(), shard: shard, runCount: Int(runCount),
                             shared: try root.required("shared").string(), spec: try root.required("spec").value,
                             outcomes: outcomes, commands: commands)
    }

    /// Checks that `locations` are the complete shards of one plan and rebuilds its results.
    public static func merge(_ locations: [String]) throws -> ExperimentResults {
        guard !locations.isEmpty else {
            throw MoESimError("give the shard folders to merge", hint: "sim experiment merge OUT results/x-shard-0-of-2 results/x-shard-1-of-2")
        }
        let shards = try locations.map(readShard)
        let first = shards[0]
        for other in shards.dropFirst() {
            guard other.experiment == first.experiment, other.spec == first.spec else {
                throw MoESimError(file: other.path, "is a shard of a different experiment or spec than \(first.path)",
                                  hint: "merge shards made from the same spec file")
            }
            guard other.shard.count == first.shard.count, other.runCount == first.runCount, other.shared == first.shared else {
                throw MoESimError(file: other.path, "was split differently (\(other.shard), \(other.runCount) runs, shared \(other.shared)) "
                                  + "from \(first.path) (\(first.shard), \(first.runCount) runs, shared \(first.shared))")
            }
        }
        var seen: [Int: String] = [:]
        for shard in shards {
            if let earlier = seen[shard.shard.index] {
                throw MoESimError(file: shard.path, "shard \(shard.shard) is also in \(earlier)", hint: "give each shard once")
            }
            seen[shard.shard.index] = shard.path
        }
        let missing = (0..<first.shard.count).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw MoESimError("\(missing.count == 1 ? "shard" : "shards") \(missing.map { "\($0)/\(first.shard.count)" }.joined(separator: ", ")) "
                              + "\(missing.count == 1 ? "is" : "are") missing",
                              hint: "every shard 0/\(first.shard.count) ... \(first.shard.count - 1)/\(first.shard.count) must be merged")
        }
        let spec = try ExperimentSpec.decode(first.spec, file: "\(first.path): spec")
        let plan = ExperimentPlan(spec: spec, sharedDirectory: first.shared)
        guard plan.runs.count == first.runCount else {
            throw MoESimError(file: first.path, "says \(first.runCount) runs but its spec expands to \(plan.runs.count) (another moe-sim version?)")
        }
        var outcomes: [RunOutcome?] = Array(repeating: nil, count: plan.runs.count)
        for shard in shards {
            for outcome in shard.outcomes {
                guard shard.commands[outcome.index] == plan.runs[outcome.index].command else {
                    throw MoESimError(file: shard.path, "run \(outcome.index)'s command differs from the plan's: \(plan.runs[outcome.index].command)")
                }
                outcomes[outcome.index] = outcome
            }
        }
        if let absent = outcomes.firstIndex(where: { $0 == nil }) {
            let shard = Shard(index: absent % first.shard.count, count: first.shard.count)
            throw MoESimError(file: seen[shard.index], "run \(absent) is missing from shard \(shard) (was that shard interrupted?)")
        }
        return try ExperimentResults(plan: plan, outcomes: outcomes.map { $0! })
    }
}
