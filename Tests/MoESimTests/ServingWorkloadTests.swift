import Foundation
import Testing
@testable import MoESim

/// Generated and recorded workloads, the task set, the memory model, and `sim serve` on the command line.
struct ServingWorkloadTests {
    static let fiveTasks = try! ServingTaskCatalog.resolve("emoe-five-tasks")

    @Test func shippedTaskSetIsValidAndSourced() throws {
        let tasks = ServingWorkloadTests.fiveTasks
        #expect(tasks.tasks.map(\.name) == ["SUM", "CLSFY", "QA", "COMP", "CONV"])
        #expect(tasks.tasks.allSatisfy { $0.share.value == 0.2 })
        // The one sourced length fact: QA's p90 output is 26 % shorter than CONV's (papers.md §2.3 O2).
        let qa = LengthQuantiles.quantile(tasks.tasks[2].outputTokens.value, 0.9)
        let conv = LengthQuantiles.quantile(tasks.tasks[4].outputTokens.value, 0.9)
        #expect(abs(qa / conv - 0.74) < 0.005)
        // CLSFY and COMP tolerate mis-routing everywhere (Fig. 5): no sensitive layer.
        #expect(tasks.tasks[1].sensitivity(layers: 32).allSatisfy { !$0 } && tasks.tasks[3].sensitivity(layers: 32).allSatisfy { !$0 })
        #expect(tasks.tasks[0].sensitivity(layers: 32).filter { !$0 }.count == 4)
        // Generation is capped at eMoE's 1000 tokens.
        #expect(tasks.tasks.allSatisfy { $0.outputTokens.value.last! <= 1000 })
    }

    @Test func lengthQuantilesByHand() {
        // Quantiles [0, 10, 30]: mean of the piecewise-linear inverse CDF = (5 + 20) / 2 = 12.5.
        #expect(LengthQuantiles.mean([0, 10, 30]) == 12.5)
        #expect(LengthQuantiles.draw([0, 10, 30], u: 0.75) == 20)
        #expect(LengthQuantiles.quantile([0, 10, 30], 0.5) == 10)
    }

    @Test func poissonArrivalsAndUniformTasks() throws {
        var options = WorkloadOptions()
        options.requests = 4000
        options.ratePerSecond = 2
        options.seed = 9
        let requests = try RequestStream.generate(options, tasks: ServingWorkloadTests.fiveTasks)
        // Mean gap 1/rate = 0.5 s: 4000 gaps have a standard error of 0.5 / sqrt(4000) = 0.008 s.
        let meanGap = requests.last!.arrivalSeconds / Double(requests.count)
        #expect(abs(meanGap - 0.5) < 0.03)
        #expect(zip(requests, requests.dropFirst()).allSatisfy { $0.arrivalSeconds <= $1.arrivalSeconds })
        // Uniform over five tasks: each about 800 (binomial sd ~25).
        for t in 0..<5 { #expect(abs(requests.filter { $0.task == t }.count - 800) < 125) }
        #expect(requests.allSatisfy { $0.label == $0.task && $0.outputTokens >= 1 && $0.outputTokens <= 1000 })
        // Same seed, same workload; another rate moves arrivals only.
        #expect(try RequestStream.generate(options, tasks: ServingWorkloadTests.fiveTasks) == requests)
        options.ratePerSecond = 5
        let faster = try RequestStream.generate(options, tasks: ServingWorkloadTests.fiveTasks)
        #expect(faster.map(\.task) == requests.map(\.task) && faster.map(\.promptTokens) == requests.map(\.promptTokens))
        #expect(faster.last!.arrivalSeconds < requests.last!.arrivalSeconds)
    }

    @Test func labelNoiseAndMixes() throws {
        var options = WorkloadOptions()
        options.requests = 4000
        options.labelNoise = 0.2
        let requests = try RequestStream.generate(options, tasks: ServingWorkloadTests.fiveTasks)
        let wrong = Double(requests.filter { $0.label != $0.task }.count) / 4000
        #expect(abs(wrong - 0.2) < 0.03)
        options.labelNoise = 1
        #expect(try RequestStream.generate(options, tasks: ServingWorkloadTests.fiveTasks).allSatisfy { $0.label != $0.task })

        let mix = try TaskMix.parse("SUM=3,qa=1", tasks: ServingWorkloadTests.fiveTasks)
        #expect(mix.probabilities == [0.75, 0, 0.25, 0, 0])
        #expect(try TaskMix.parse("uniform", tasks: ServingWorkloadTests.fiveTasks).probabilities.allSatisfy { $0 == 0.2 })
        #expect(throws: MoESimError.self) { try TaskMix.parse("SUMM", tasks: ServingWorkloadTests.fiveTasks) }
        #expect(throws: MoESimError.self) { try TaskMix.parse("SUM=0", tasks: ServingWorkloadTests.fiveTasks) }
        #expect(throws: MoESimError.self) { try TaskMix.parse("SUM,SUM", tasks: ServingWorkloadTests.fiveTasks) }
    }

    @Test func badTaskFileNamesTheField() throws {
        let bad = ServingToy.tasks.replacingOccurrences(of: #""insensitiveLayerFraction":{"value":0,"#, with: #""insensitiveLayerFraction":{"value":2,"#)
        let path = Fixtures.write(bad, name: "bad-tasks.json")
        do {
            _ = try ServingTaskCatalog.load(path: path)
            Issue.record("expected an error")
        } catch let error as MoESimError {
            #expect(error.file == path && error.field == "tasks[0].insensitiveLayerFraction.value")
        }
    }

    /// Headroom from the memory model: with weights W, KV k per token and no activations, the largest batch of
    /// p + o token requests within C is floor((C - W) / ((p + o) k)) (activations add to it here, so check bounds).
    @Test func headroomIsMonotoneAndConsistent() throws {
        let files = Fixtures.toyFiles()
        let cost = CostModel(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: files.model),
                             quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime))
        let model = ServingMemoryModel(cost: cost, capacityBytes: 30e6, predictorBytes: 0, attention: .flash)
        let batch = model.maxBatch(residentExperts: 8, promptTokens: 10, outputTokens: 10, limit: 30e6)
        #expect(model.memoryBytes(residentExperts: 8, batch: batch, promptTokens: 10, outputTokens: 10) <= 30e6)
        #expect(model.memoryBytes(residentExperts: 8, batch: batch + 1, promptTokens: 10, outputTokens: 10) > 30e6)
        // Fewer experts resident: more room.
        #expect(model.maxBatch(residentExperts: 4, promptTokens: 10, outputTokens: 10, limit: 30e6) > batch)
        // Eager attention's p x p scores make long prompts cost more than flash.
        let eager = ServingMemoryModel(cost: cost, capacityBytes: 30e6, predictorBytes: 0, attention: .eager)
        #expect(eager.maxPromptTokens(residentExperts: 8, outputTokens: 0, limit: 30e6) < model.maxPromptTokens(residentExperts: 8, outputTokens: 0, limit: 30e6))
        #expect(model.maxBatch(residentExperts: 8, promptTokens: 10, outputTokens: 10, limit: 1) == 0)
    }

    @Test func serveHelpTeachesAndErrorsAreClear() {
        let help = Fixtures.sim(["serve", "--help"])
        #expect(help.code == 0)
        for phrase in ["Algorithm 1", "Eq. 2", "--rate", "--policy", "emoe-a", "all-resident", "TTFT", "SLO", "--gpus", "rerouted"] {
            #expect(help.out.contains(phrase), "help lacks \(phrase)")
        }
        #expect(Fixtures.sim(["--help"]).out.contains("sim serve"))
        for (args, field) in [(["--rate", "0"], "--rate"), (["--policy", "emoe"], "--policy"), (["--gpus", "0"], "--gpus"),
                              (["--experts-loaded", "1.5", "--policy", "emoe-a"], "--experts-loaded"), (["--label-noise", "2"], "--label-noise"),
                              (["--scheduler", "sjf"], "--scheduler"), (["--task-mix", "XSUM"], "--task-mix"), (["--requestss", "3"], "--requestss")] {
            let r = Fixtures.sim(["serve"] + args)
            #expect(r.code == 1 && r.err.contains(field), "\(args): \(r.err)")
        }
    }

    /// A small real run through the command line: JSON parses, numbers hang together.
    @Test func serveRunsAndReportsJSON() throws {
        let r = Fixtures.sim(["serve", "--requests", "6", "--rate", "2", "--output-tokens", "8", "--prompt-tokens", "16", "--policy", "emoe-a",
                              "--scheduler", "emoe", "--period", "2", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONDecoder().decode(ServingReport.self, from: Data(r.out.utf8))
        #expect(report.requests.completed == 6 && report.requests.outputTokens == 48 && report.requests.promptTokens == 96)
        #expect(report.configuration.predictor == "noisy-oracle:accuracy=0.71" && report.experts.predictorFiredOn?.sorted() == [0, 2, 4])
        #expect(report.memory.steadyWeightBytes < report.memory.allResidentWeightBytes)
        #expect(report.latency.endToEnd!.p99Seconds >= report.latency.endToEnd!.p50Seconds)
        #expect(report.workload.routing.allSatisfy { $0.source.hasPrefix("synthetic") })
    }

    /// The recorded HumanEval trace as a workload (skipped without ../shared/traces).
    @Test(.enabled(if: Fixtures.sharedTracesAvailable)) func recordedTraceWorkload() throws {
        let r = Fixtures.sim(["serve", "--trace", Fixtures.sharedTrace("humaneval0.moetrace.jsonl"), "--trace-task", "CONV", "--requests", "3", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONDecoder().decode(ServingReport.self, from: Data(r.out.utf8))
        // HumanEval/0: 135 prompt tokens, 84 output tokens, cycled three times.
        #expect(report.requests.promptTokens == 3 * 135 && report.requests.outputTokens == 3 * 84)
        #expect(report.workload.routing.first?.source.hasPrefix("recorded") == true)
        let missing = Fixtures.sim(["serve", "--trace", Fixtures.sharedTrace("humaneval0.moetrace.jsonl")])
        #expect(missing.code == 1 && missing.err.contains("--trace-task"))
    }
}
