import Foundation

/// The requests of a serving run, in arrival order: generated (Poisson arrivals at `ratePerSecond`, tasks from a
/// mix, lengths and SLOs from each task's documented defaults, as eMoE's synthetic trace: papers.md §2.2), or taken
/// from a recorded trace's request lines, with generated values for whatever a line leaves out.
///
/// Each random choice has its own seeded stream (arrivals, tasks, lengths, label noise, routing), so changing
/// the rate moves arrival times only: a rate sweep serves the same requests.
public struct WorkloadOptions: Sendable {
    public var requests = 200
    /// Mean arrivals per second; `.infinity`: every request arrives at time 0 (an offline batch).
    public var ratePerSecond = 1.0
    public var seed: UInt64 = 1
    /// nil: the task set's own shares.
    public var mix: TaskMix?
    /// Fix every prompt or output length instead of drawing it.
    public var promptTokens: Int?
    public var outputTokens: Int?
    /// Generated tokens are capped here (eMoE: 1000 for every model, papers.md §2.2).
    public var maxNewTokens = 1000
    /// Every SLO is multiplied by this (tighter < 1 < looser).
    public var sloScale = 1.0
    /// Probability that the system sees a wrong task label (eMoE Fig. 19 injects 0-100 %: papers.md §2.5).
    public var labelNoise = 0.0
    /// When replaying a trace whose task names are not in the task set: treat every recorded request as this task.
    public var traceTask: String?
    public init() {}
}

public enum RequestStream {
    static let arrivalSalt: UInt64 = 0x4152_5249
    static let taskSalt: UInt64 = 0x5441_534C
    static let lengthSalt: UInt64 = 0x4C45_4E47
    static let noiseSalt: UInt64 = 0x4E4F_4953
    static let routingSalt: UInt64 = 0x524F_5554

    /// A generated workload.
    public static func generate(_ options: WorkloadOptions, tasks: ServingTaskSet) throws -> [ServingRequest] {
        try check(options)
        let mix = options.mix ?? TaskMix(probabilities: tasks.tasks.map(\.share.value))
        var arrivals = Arrivals(rate: options.ratePerSecond, seed: options.seed)
        var taskRNG = SeededGenerator(seed: options.seed ^ taskSalt)
        var lengthRNG = SeededGenerator(seed: options.seed ^ lengthSalt)
        var noiseRNG = SeededGenerator(seed: options.seed ^ noiseSalt)
        var routingRNG = SeededGenerator(seed: options.seed ^ routingSalt)
        return (0..<options.requests).map { i in
            let task = mix.task(u: taskRNG.nextUnit())
            let spec = tasks.tasks[task]
            // Both lengths are drawn even when fixed, so fixing one leaves the other's draws unchanged.
            let prompt = LengthQuantiles.draw(spec.promptTokens.value, u: lengthRNG.nextUnit())
            let output = LengthQuantiles.draw(spec.outputTokens.value, u: lengthRNG.nextUnit())
            return ServingRequest(index: i, id: "r\(i)", task: task, label: label(task, mix: mix, tasks: tasks, noise: options.labelNoise, rng: &noiseRNG),
                                  arrivalSeconds: arrivals.next(),
                                  promptTokens: max(1, options.promptTokens ?? prompt),
                                  outputTokens: max(1, min(options.maxNewTokens, options.outputTokens ?? output)),
                                  sloTTFTSeconds: spec.sloTTFTSeconds.value * options.sloScale, sloE2ESeconds: spec.sloE2ESeconds.value * options.sloScale,
                                  routingSeed: routingRNG.next())
        }
    }

    /// The requests of a recorded trace (cycled when `options.requests` asks for more; 0: exactly the trace's).
    /// Arrival times come from the trace only when every request has one and none is repeated.
    public static func fromTrace(_ recording: RecordedRequestRouting, options: WorkloadOptions, tasks: ServingTaskSet,
                                 requestsGiven: Bool) throws -> (requests: [ServingRequest], arrivalsFromTrace: Bool) {
        try check(options)
        let recorded = recording.recorded.indices.filter { recording.prefillTokens[$0] + recording.decodeTokens[$0] > 0 }
        let count = requestsGiven ? options.requests : recorded.count
        let useTraceArrivals = count <= recorded.count && recorded.allSatisfy { recording.recorded[$0].arrivalSeconds != nil }
        var arrivals = Arrivals(rate: options.ratePerSecond, seed: options.seed)
        var lengthRNG = SeededGenerator(seed: options.seed ^ lengthSalt)
        var noiseRNG = SeededGenerator(seed: options.seed ^ noiseSalt)
        let fixedTask = try options.traceTask.map { name -> Int in
            guard let t = tasks.index(of: name) else {
                throw MoESimError(field: "--trace-task", "unknown task '\(name)'", hint: "tasks: \(tasks.tasks.map(\.name).joined(separator: ", "))")
            }
            return t
        }
        let mix = options.mix ?? TaskMix(probabilities: tasks.tasks.map(\.share.value))
        var out: [ServingRequest] = []
        for i in 0..<count {
            let r = recorded[i % recorded.count]
            let info = recording.recorded[r]
            let task: Int
            if let fixedTask {
                task = fixedTask
            } else if let name = info.task, let t = tasks.index(of: name) {
                task = t
            } else {
                throw MoESimError(file: recording.path, field: "request \(info.id)",
                                  info.task.map { "task '\($0)' is not in the task set \(tasks.name)" } ?? "has no task label",
                                  hint: "give --trace-task TASK (one of \(tasks.tasks.map(\.name).joined(separator: ", "))) to treat the recorded requests as that task")
            }
            let spec = tasks.tasks[task]
            let drawnPrompt = LengthQuantiles.draw(spec.promptTokens.value, u: lengthRNG.nextUnit())
            let drawnOutput = LengthQuantiles.draw(spec.outputTokens.value, u: lengthRNG.nextUnit())
            let prompt = options.promptTokens ?? info.promptTokens ?? (recording.prefillTokens[r] > 0 ? recording.prefillTokens[r] : drawnPrompt)
            let output = options.outputTokens ?? info.outputTokens ?? (recording.decodeTokens[r] > 0 ? recording.decodeTokens[r] + 1 : drawnOutput)
            let arrival = useTraceArrivals ? info.arrivalSeconds! : arrivals.next()
            let slo = info.sloTTFTSeconds ?? spec.sloTTFTSeconds.value * options.sloScale
            out.append(ServingRequest(index: i, id: i < recorded.count ? info.id : "\(info.id)#\(i / recorded.count)", task: task,
                                      label: label(task, mix: mix, tasks: tasks, noise: options.labelNoise, rng: &noiseRNG),
                                      arrivalSeconds: arrival, promptTokens: max(1, prompt), outputTokens: max(1, min(options.maxNewTokens, output)),
                                      sloTTFTSeconds: slo, sloE2ESeconds: spec.sloE2ESeconds.value * options.sloScale, recordedRequest: r))
        }
        if useTraceArrivals { out.sort { ($0.arrivalSeconds, $0.index) < ($1.arrivalSeconds, $1.index) } }
        for i in out.indices { out[i].index = i }
        return (out, useTraceArrivals)
    }

    static func check(_ options: WorkloadOptions) throws {
        guard options.requests >= 1 else { throw MoESimError(field: "--requests", "expected at least 1 request, found \(options.requests)") }
        guard options.ratePerSecond > 0, !options.ratePerSecond.isNaN else {
            throw MoESimError(field: "--rate", "expected a positive number of requests per second (or inf), found \(options.ratePerSecond)")
        }
        guard (0...1).contains(options.labelNoise) else {
            throw MoESimError(field: "--label-noise", "expected a fraction in [0, 1], found \(options.labelNoise)")
        }
        guard options.sloScale > 0, options.sloScale.isFinite else { throw MoESimError(field: "--slo-scale", "expected a positive number, found \(options.sloScale)") }
        guard options.maxNewTokens >= 1 else { throw MoESimError(field: "--max-new-tokens", "expected at least 1") }
    }

    /// The label the system sees: the true task, or with probability `noise` a uniformly chosen other task (one of
    /// the mix's tasks when the mix has several, else any other task of the set).
    static func label(_ task: Int, mix: TaskMix, tasks: ServingTaskSet, noise: Double, rng: inout SeededGenerator) -> Int {
        let u = rng.nextUnit(), v = rng.nextUnit()
        guard noise > 0, u < noise, tasks.tasks.count > 1 else { return task }
        var others = mix.probabilities.indices.filter { $0 != task && mix.probabilities[$0] > 0 }
        if others.isEmpty { others = tasks.tasks.indices.filter { $0 != task } }
        return others[min(others.count - 1, Int(v * Double(others.count)))]
    }

    /// Poisson process: exponential gaps with mean 1 / rate; the first request arrives after one gap.
    struct Arrivals {
        let rate: Double
        var rng: SeededGenerator
        var time = 0.0

        init(rate: Double, seed: UInt64) {
            self.rate = rate
            rng = SeededGenerator(seed: seed ^ RequestStream.arrivalSalt)
        }

        mutating func next() -> Double {
            let u = rng.nextUnit()
            guard rate.isFinite else { return 0 }
            time += -log(1 - u) / rate
            return time
        }
    }
}
