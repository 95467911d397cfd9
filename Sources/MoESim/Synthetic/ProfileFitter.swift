import Foundation

/// `sim trace fit`: one streaming pass over a trace (JSONL or binary) to measure, then calibration of the
/// generator against what was measured. The result depends only on the trace and the options.
public enum ProfileFitter {
    public struct Options: Sendable {
        public var phase: ProfileMeasurement.PhaseFilter = .decode
        /// Profile name; nil: the trace file's name without its extensions.
        public var name: String?
        /// The command line to record in `source` (so the profile says how to remake it).
        public var command: String?
        public var calibration = ProfileCalibration.Settings()
        public init() {}
    }

    public static func fit(path: String, options: Options = Options()) throws -> SyntheticProfile {
        let reader = try openTrace(path: path, missingCells: .skip)
        let header = reader.header
        let measurement = ProfileMeasurement(header: header, phase: options.phase)
        while let item = try reader.next() {
            if case .token = item { measurement.add(reader.token) }
        }
        guard measurement.fittedTokens > 0 else {
            throw MoESimError(file: path, "has no \(options.phase == .all ? "" : options.phase.rawValue + " ")tokens to fit",
                              hint: options.phase == .all ? nil : "try --phase all")
        }
        let file = URL(fileURLWithPath: path).lastPathComponent
        let name = options.name ?? String(file.split(separator: ".").first ?? Substring(file))
        var source = "fitted from \(file) (\(measurement.fittedTokens) \(options.phase == .all ? "" : options.phase.rawValue + " ")tokens)"
        if let command = options.command { source += " with `\(command)`" }
        var notes: [String] = []
        // The trace's own provenance and caveats travel with the numbers fitted from it.
        if let recorded = header.raw["source"]?.stringValue { notes.append("trace source: \(recorded)") }
        if let caveats = header.raw["notes"]?.stringValue { notes.append("trace notes: \(caveats)") }
        if header.weights == .none { notes.append("the trace records no router weights: top-1 weights are drawn uniformly") }
        var profile = SyntheticProfile(
            schema: SyntheticProfile.schemaTag, name: name, aliases: nil, source: source, notes: notes.isEmpty ? nil : notes.joined(separator: "; "),
            model: header.model, moeLayers: header.layers, experts: header.experts, topK: header.topK, phase: options.phase.rawValue,
            fittedTokens: measurement.fittedTokens, perLayer: measurement.layerProfiles(), requests: measurement.requestProfile(reader.requests),
            calibration: SyntheticProfile.Calibration(seed: 0, rounds: 0, finalRoundTokens: 0, maxSelectionShareError: 0, maxStackDepthShareError: 0, maxSuccessorShareError: 0))
        ProfileCalibration.calibrate(&profile, settings: options.calibration)
        return profile.rounded()
    }
}
