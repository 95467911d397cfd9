/// A recorded timeline in the Chrome Trace Event format (a JSON object with `traceEvents`), which Perfetto
/// (ui.perfetto.dev) and chrome://tracing open: one thread per resource, named by `thread_name` metadata, and one
/// complete ("X") event per slice with `ts`/`dur` in microseconds and the slice's details in `args`.
public enum ChromeTrace {
    /// The one process all tracks belong to.
    static let processID = 1

    /// Microseconds, rounded to the nanosecond so the same run always gives the same bytes. Durations are taken
    /// between rounded ends, so slices that abut in the simulation abut in the file.
    static func microseconds(_ seconds: Double) -> Double { (seconds * 1e9).rounded() / 1e3 }

    public static func render(_ timeline: TimelineRecorder) -> String {
        var events: [JSONValue] = []
        func metadata(_ name: String, thread: Int, _ args: [(String, JSONValue)]) {
            events.append(.object([("name", .string(name)), ("ph", .string("M")), ("pid", .number(Double(processID))),
                                   ("tid", .number(Double(thread))), ("args", .object(args))]))
        }
        metadata("process_name", thread: 0, [("name", .string("moe-sim: " + timeline.title))])
        for (order, track) in timeline.trackNames.enumerated() {
            metadata("thread_name", thread: track.track.rawValue, [("name", .string(track.name))])
            metadata("thread_sort_index", thread: track.track.rawValue, [("sort_index", .number(Double(order)))])
        }
        for slice in timeline.slices {
            let start = microseconds(slice.start)
            var args: [(String, JSONValue)] = [("pass", .number(Double(slice.pass))), ("request", .string(slice.requestID))]
            if let layer = slice.layer { args.append(("layer", .number(Double(layer)))) }
            if let expert = slice.expert { args.append(("expert", .number(Double(expert)))) }
            if let part = slice.part { args.append(("part", .number(Double(part)))) }
            if let tokens = slice.tokens { args.append(("tokens", .number(Double(tokens)))) }
            if case let .transfer(cause) = slice.kind {
                args.append(("cause", .string(cause.name)))
                args.append(("bytes", .number(Double(slice.bytes ?? 0))))
                args.append(("speculative", .bool(slice.speculative)))
                if slice.preempted { args.append(("preempted", .bool(true))) }
            }
            events.append(.object([
                ("name", .string(slice.name)), ("cat", .string(category(slice.kind))), ("ph", .string("X")),
                ("ts", .number(start)), ("dur", .number(microseconds(slice.end) - start)),
                ("pid", .number(Double(processID))), ("tid", .number(Double(slice.track.rawValue))), ("args", .object(args)),
            ]))
        }
        // One event per line: a large file stays diffable and greppable.
        var out = "{\"displayTimeUnit\":\"ms\",\"otherData\":"
        JSONValue.object([("tool", .string("moe-sim")), ("run", .string(timeline.title)),
                          ("passes", .string(timeline.recordedPasses?.description ?? "none")),
                          ("passesInRun", .number(Double(timeline.passesSeen))), ("timeUnit", .string("simulated microseconds"))]).write(to: &out)
        out += ",\n\"traceEvents\":[\n"
        for (i, event) in events.enumerated() {
            event.write(to: &out)
            out += i + 1 < events.count ? ",\n" : "\n"
        }
        out += "]}\n"
        return out
    }

    /// The `cat` of a slice: Perfetto can filter and colour by it.
    static func category(_ kind: TimelineSlice.Kind) -> String {
        switch kind {
        case .pass: return "pass"
        case let .compute(work):
            switch work {
            case .attention: return "attention"
            case .denseFFN: return "dense-ffn"
            case .sharedExperts: return "shared-experts"
            case .expert: return "expert"
            case .passOverhead: return "pass-overhead"
            }
        case .stall: return "stall"
        case let .transfer(cause): return cause.name
        case .cpuExpert: return "cpu-expert"
        }
    }
}
