import Foundation
import Testing
@testable import MoESim

/// Presets, profiles and task sets are read strictly (`StrictJSONDecoder`): an unknown member is an error naming its
/// path with a suggestion that exists, an invalid enum value lists the valid ones, an integer field takes only whole
/// numbers, and every missing required field is reported at once.
struct StrictPresetTests {
    static let shipped = ResourceLocator.resourcesDirectory

    static func shippedText(_ relative: String) throws -> String {
        try String(contentsOf: shipped.appendingPathComponent(relative), encoding: .utf8)
    }

    /// `sim KIND show FILE` on `text`; returns the file and the result.
    static func show(_ kind: String, _ text: String, name: String = "strict.json") -> (path: String, code: Int32, err: String) {
        let path = Fixtures.write(text, name: name)
        let r = Fixtures.sim(kind.split(separator: " ").map(String.init) + ["show", path])
        return (path, r.code, r.err)
    }

    static func expectOneLine(_ err: String, _ needles: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(err.hasPrefix("error: ") && err.filter { $0 == "\n" }.count == 1, "not one error line: \(err)", sourceLocation: sourceLocation)
        for needle in needles { #expect(err.contains(needle), "'\(needle)' missing from: \(err)", sourceLocation: sourceLocation) }
    }

    @Test(arguments: [("host", "dispatchSpeedRelative", "dispatchSpeedRelatve"),
                      ("hostLink", "pageableH2DBytesPerSecond", "pagableH2DBytesPerSecond")])
    func aMisspelledOptionalHardwareFieldIsAnErrorWithASuggestion(section: String, field: String, typo: String) throws {
        let text = try Self.shippedText("hardware/rtx4090.json").replacingOccurrences(
            of: "\"\(section)\": {", with: "\"\(section)\": {\"\(typo)\": {\"value\": 1, \"source\": \"x\"}, ")
        let r = Self.show("hardware", text)
        #expect(r.code == 1)
        Self.expectOneLine(r.err, [r.path, "field '\(section).\(typo)': unknown field", "did you mean '\(field)'?"])
    }

    @Test func aMisspelledFieldThroughSimRunExitsOne() {
        let hw = Fixtures.hardware().replacingOccurrences(of: #""cpuCores":"#, with: #""dispatchSpeedRelatve":{"value":2,"source":"t"},"cpuCores":"#)
        let files = Fixtures.toyFiles(hardware: hw)
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "t.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime, "--cache", "lru-per-layer:2"])
        #expect(r.code == 1 && r.out.isEmpty)
        Self.expectOneLine(r.err, ["field 'host.dispatchSpeedRelatve': unknown field", "did you mean 'dispatchSpeedRelative'?"])
    }

    @Test func unknownFieldsOfEveryPresetKindAreErrors() throws {
        let runtime = Self.show("runtime", Fixtures.runtime().replacingOccurrences(of: #""perLayerOverheadSeconds""#, with: #""perLayerOverheadSecs""#))
        Self.expectOneLine(runtime.err, ["field 'perLayerOverheadSecs': unknown field", "did you mean 'perLayerOverheadSeconds'? it is required and missing"])
        let model = Self.show("models", Fixtures.model.replacingOccurrences(of: #""kvHeads":1,"#, with: #""kvHeads":1,"kvHead":1,"#))
        Self.expectOneLine(model.err, ["field 'attention.kvHead': unknown field", "allowed here:", "headDim"])
        #expect(!model.err.contains("did you mean 'kvHeads'"), "suggests a field that is already given: \(model.err)")
        let system = Self.show("systems", try Self.shippedText("systems/adapmoe.json").replacingOccurrences(of: "\"follows\":", with: "\"folows\":"))
        Self.expectOneLine(system.err, ["field 'folows': unknown field", "did you mean 'follows'?"])
        let tasks = Fixtures.write(try Self.shippedText("serving/emoe-five-tasks.json").replacingOccurrences(of: "\"sloTTFTSeconds\"", with: "\"sloTTFTSecond\""),
                                   name: "tasks.json")
        let error = #expect(throws: MoESimError.self) { _ = try PresetCatalog<ServingTaskSet>.load(path: tasks) }
        #expect(error?.description.contains("field 'tasks[0].sloTTFTSecond': unknown field (hint: did you mean 'sloTTFTSeconds'?") == true, "\(String(describing: error))")
        // A figure's own members are checked too.
        let sourced = Self.show("hardware", Fixtures.hardware().replacingOccurrences(of: #"{"value":8,"source":"test"}"#, with: #"{"value":8,"sorce":"test"}"#))
        Self.expectOneLine(sourced.err, ["field 'host.cpuCores.sorce': unknown field", "did you mean 'source'?"])
    }

    @Test func aSuggestionIsOnlyEverANameThatExists() {
        let r = Self.show("runtime", Fixtures.runtime().replacingOccurrences(of: #""title""#, with: #""zzzzqqqxxxyyy":1,"title""#))
        Self.expectOneLine(r.err, ["field 'zzzzqqqxxxyyy': unknown field (hint: allowed here: "])
        #expect(!r.err.contains("did you mean"), "\(r.err)")
    }

    @Test func anInvalidEnumValueListsTheValidOnes() {
        let r = Self.show("hardware", Fixtures.hardware().replacingOccurrences(of: #""offloadTier":"host""#, with: #""offloadTier":"hots""#))
        Self.expectOneLine(r.err, ["field 'offloadTier': expected one of \"host\", \"storage\", found \"hots\" (hint: did you mean \"host\"?)"])
    }

    @Test func everyMissingRequiredFieldIsReportedAtOnce() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""fp16FlopsPerSecond":{"value":1e18,"source":"test"},"#, with: "")
            .replacingOccurrences(of: #","cpuCores":{"value":8,"source":"test"}"#, with: "")
        let r = Self.show("hardware", text)
        Self.expectOneLine(r.err, ["required fields are missing: 'device.fp16FlopsPerSecond', 'host.cpuCores'"])
    }

    /// Issue 19 row 6: a fraction or a number beyond an integer in an integer field named no field.
    @Test(arguments: ["2.5", "1e30", "-1.5", "\"4\""])
    func aNonIntegerInAnIntegerFieldNamesTheField(value: String) {
        let r = Self.show("runtime", Fixtures.runtime().replacingOccurrences(of: #""maxInFlightTransfers":{"value":4,"#,
                                                                             with: #""maxInFlightTransfers":{"value":\#(value),"#))
        let shown = value == "1e30" ? "1e+30" : value
        Self.expectOneLine(r.err, ["field 'maxInFlightTransfers.value': expected an integer, found \(shown)"])
    }

    @Test func aMemberGivenTwiceIsAnError() {
        let r = Self.show("runtime", Fixtures.runtime().replacingOccurrences(of: #""title":"toy runtime","#, with: #""title":"a","title":"b","#))
        Self.expectOneLine(r.err, ["field 'title': given twice"])
    }

    @Test func severalKindsOfProblemAreReportedTogether() {
        let text = Fixtures.hardware().replacingOccurrences(of: #""offloadTier":"host""#, with: #""offloadTier":"hots""#)
            .replacingOccurrences(of: #""copyEngines":{"value":2,"#, with: #""copyEngines":{"value":"two","#)
        let r = Self.show("hardware", text)
        Self.expectOneLine(r.err, ["2 problems:", "field 'offloadTier': expected one of", "field 'hostLink.copyEngines.value': expected a number, found \"two\""])
    }

    @Test func everyShippedPresetStillLoads() throws {
        #expect(try HardwareCatalog.presets().count >= 10)
        #expect(try ModelCatalog.presets().count >= 7)
        #expect(try RuntimeCatalog.presets().count >= 5)
        #expect(try SystemCatalog.presets().count >= 18)
        #expect(try SyntheticProfileCatalog.presets().count >= 1)
        #expect(try PresetCatalog<ServingTaskSet>.presets().count >= 1)
    }
}
