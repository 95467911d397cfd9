/// What a miss policy did over a run, in constant memory: actions per kind, the (token, expert) cells and gate-weight
/// mass each approximate action touched, and the CPU's work.
///
/// The quality proxy is the fraction of routed (token, expert) cells, and of gate-weight mass, whose expert was
/// skipped, substituted or run in low precision. It is a PROXY, not a measured accuracy: it says how much of the
/// computation was changed, weighted by how much the router trusted it, not what that did to the output.
struct MissStatistics {
    static let proxyDefinition = "proxy, not a measured accuracy: the share of routed (token, expert) cells, and of their gate-weight mass (weights renormalised over each token's experts), whose expert was skipped, substituted or run in low precision"

    /// Per `MissActionKind`: experts, (token, expert) cells, gate-weight mass.
    var actions = [Int](repeating: 0, count: MissActionKind.allCases.count)
    var cells = [Int](repeating: 0, count: MissActionKind.allCases.count)
    var mass = [Double](repeating: 0, count: MissActionKind.allCases.count)
    /// Gate-weight mass of every routed cell (when gate statistics are gathered).
    var routedMass = 0.0
    var cpuBusySeconds = 0.0
    var cpuWaitSeconds = 0.0
    var activationBytes = 0.0

    mutating func record(_ kind: MissActionKind, tokens: Int, gate: ExpertGate?) {
        let k = Int(kind.rawValue)
        actions[k] += 1
        cells[k] += tokens
        mass[k] += gate?.mass ?? 0
    }

    func count(_ kind: MissActionKind) -> Int { actions[Int(kind.rawValue)] }

    /// The report section. `routedCells`: (token, expert) cells routed after gating; `massKnown`: gate statistics
    /// were gathered and the trace records weights.
    func report(policy: String, routedCells: Int, massKnown: Bool, approximates: Bool, lowPrecision: ExpertForm?,
                usedCPU: Bool, makespanSeconds: Double, notes: [String]) -> Report.Miss {
        func ratio(_ a: Double, _ b: Double) -> Double? { b > 0 ? a / b : nil }
        var quality: Report.Miss.Quality?
        if approximates {
            let kinds = MissActionKind.allCases.filter(\.approximates)
            let affected = kinds.reduce(0) { $0 + cells[Int($1.rawValue)] }
            let affectedMass = kinds.reduce(0.0) { $0 + mass[Int($1.rawValue)] }
            quality = .init(definition: MissStatistics.proxyDefinition, routedCells: routedCells, routedGateMass: massKnown ? routedMass : nil,
                            affectedCells: affected, affectedCellFraction: ratio(Double(affected), Double(routedCells)),
                            affectedGateMass: massKnown ? affectedMass : nil,
                            affectedGateMassFraction: massKnown ? ratio(affectedMass, routedMass) : nil,
                            byAction: kinds.map { kind in
                                let k = Int(kind.rawValue)
                                return .init(action: kind.name, cells: cells[k], cellFraction: ratio(Double(cells[k]), Double(routedCells)),
                                             gateMass: massKnown ? mass[k] : nil, gateMassFraction: massKnown ? ratio(mass[k], routedMass) : nil)
                            })
        }
        let cpu: Report.Miss.CPU? = usedCPU
            ? .init(experts: count(.cpu), busySeconds: cpuBusySeconds, busyFraction: ratio(cpuBusySeconds, makespanSeconds),
                    gpuWaitSeconds: cpuWaitSeconds, activationBytes: activationBytes)
            : nil
        return Report.Miss(policy: policy, misses: actions.reduce(0, +), loaded: count(.load), loadedLowPrecision: count(.lowPrecision),
                           ranOnCPU: count(.cpu), skipped: count(.skip), substituted: count(.substitute),
                           lowPrecisionQuantization: lowPrecision?.quantization, lowPrecisionExpertBytes: lowPrecision?.bytes,
                           cpu: cpu, quality: quality, notes: notes.isEmpty ? nil : notes)
    }
}
