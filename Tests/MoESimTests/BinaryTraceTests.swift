import Foundation
import Testing
@testable import MoESim

struct BinaryTraceTests {
    /// A toy trace with everything the format carries: request lines, a request without one, null cells,
    /// lookahead predictions, prefill and decode.
    static let richTrace = [
        Fixtures.header,
        #"{"request":"a","task":"code","arrival_s":0.5,"prompt_tokens":2,"output_tokens":1,"slo_ttft_s":1.0}"#,
        #"{"request":"a","phase":"prefill","pos":0,"experts":[[0,1],null],"weights":[[0.75,0.25],null]}"#,
        #"{"request":"a","phase":"prefill","pos":1,"experts":[[2],[3,1]],"weights":[[1.0],[0.6,0.4]],"ahead":{"1":[[3,1],null]}}"#,
        #"{"request":"b","phase":"decode","experts":[[1,0],[2,3]],"weights":[[0.5,0.5],[0.9,0.1]]}"#,
        #"{"request":"a","phase":"decode","pos":2,"experts":[[3,2],[0,1]],"weights":[[0.7,0.3],[0.55,0.45]],"ahead":{"1":[[0],null],"2":[null,null]}}"#,
    ].joined(separator: "\n") + "\n"

    static func convert(_ input: String, _ output: String) -> (code: Int32, err: String) {
        let r = Fixtures.sim(["trace", "convert", input, output, "--force"])
        return (r.code, r.err)
    }

    @Test func jsonlToBinaryToJSONLKeepsEveryRecord() throws {
        let dir = Fixtures.temporaryDirectory()
        let source = dir.appendingPathComponent("rich.jsonl").path
        try BinaryTraceTests.richTrace.write(toFile: source, atomically: true, encoding: .utf8)
        let binary = dir.appendingPathComponent("rich.moetrace").path
        let back = dir.appendingPathComponent("back.jsonl").path
        let canonical = dir.appendingPathComponent("canonical.jsonl").path
        #expect(BinaryTraceTests.convert(source, binary).code == 0)
        #expect(BinaryTraceFormat.isBinary(path: binary))
        #expect(BinaryTraceTests.convert(binary, back).code == 0)
        #expect(BinaryTraceTests.convert(source, canonical).code == 0)
        let backText = try String(contentsOfFile: back, encoding: .utf8)
        #expect(backText == (try String(contentsOfFile: canonical, encoding: .utf8)))
        // Request "b" had no request line and gets none; lookahead and null cells survive.
        #expect(!backText.contains(#"{"request":"b"}"#))
        #expect(backText.contains(#""ahead":{"1":[[0],null],"2":[null,null]}"#))
        #expect(backText.contains(#""experts":[[0,1],null]"#))
        #expect(backText.contains(#""task":"code""#))
    }

    @Test func aTraceWrittenByMoeSimRoundTripsByteForByte() throws {
        let dir = Fixtures.temporaryDirectory()
        let synth = dir.appendingPathComponent("s.jsonl").path
        let files = Fixtures.toyFiles()
        #expect(Fixtures.sim(["trace", "synth", "--model", files.model, "--tokens", "40", "--prompt", "5", "--requests", "3", "--out", synth]).code == 0)
        let binary = dir.appendingPathComponent("s.moetrace").path
        let back = dir.appendingPathComponent("back.jsonl").path
        #expect(BinaryTraceTests.convert(synth, binary).code == 0)
        #expect(BinaryTraceTests.convert(binary, back).code == 0)
        #expect(FileManager.default.contentsEqual(atPath: synth, andPath: back))
    }

    @Test func bothFormsSimulateIdentically() throws {
        let dir = Fixtures.temporaryDirectory()
        let jsonl = dir.appendingPathComponent("t.jsonl").path
        try Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]], [[2, 1], [3, 0]]]).write(toFile: jsonl, atomically: true, encoding: .utf8)
        let binary = dir.appendingPathComponent("t.moetrace").path
        #expect(BinaryTraceTests.convert(jsonl, binary).code == 0)
        let files = Fixtures.toyFiles()
        func run(_ trace: String) -> String {
            let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                                  "--cache", "lru-per-layer:2", "--prefetch", "oracle-next-layer", "--csv"])
            return r.out.split(separator: "\n").map { $0.split(separator: ",").dropFirst().joined(separator: ",") }.joined(separator: "\n")
        }
        #expect(run(jsonl) == run(binary))
    }

    /// Damaged binary files give one clear error naming the file and where.
    @Test func corruptedFilesAreRejectedClearly() throws {
        let dir = Fixtures.temporaryDirectory()
        let jsonl = dir.appendingPathComponent("t.jsonl").path
        try BinaryTraceTests.richTrace.write(toFile: jsonl, atomically: true, encoding: .utf8)
        let binary = dir.appendingPathComponent("t.moetrace").path
        #expect(BinaryTraceTests.convert(jsonl, binary).code == 0)
        let good = try Data(contentsOf: URL(fileURLWithPath: binary))
        let files = Fixtures.toyFiles()
        func attempt(_ bytes: Data, _ name: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: path))
            let r = Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime, "--cache", "none"])
            #expect(r.code != 0, "\(name) was accepted")
            #expect(r.err.hasPrefix("error: \(path)"), "\(r.err)")
            #expect(r.err.filter { $0 == "\n" }.count == 1)
            return r.err
        }
        // Cut before the end marker.
        #expect(try attempt(good.prefix(good.count - 8), "truncated.moetrace").contains("truncated"))
        // One payload byte flipped.
        var flipped = good
        flipped[good.count - 30] ^= 0xFF
        #expect(try attempt(flipped, "flipped.moetrace").contains("checksum"))
        // Another version.
        var version = good
        version[8] = 9
        #expect(try attempt(version, "version.moetrace").contains("version 9"))
        // Only the magic.
        #expect(try attempt(good.prefix(8), "magic-only.moetrace").contains("truncated"))
    }
}
