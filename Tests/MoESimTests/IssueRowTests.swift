import Foundation
import Testing
@testable import MoESim

/// Issue 19's table, one regression test per row (rows 1-3, 6 and 7: `FigureBoundsTests` and `StrictPresetTests`;
/// rows 11-15: `SafeOutputTests`). Each uses the row's input and checks the error text.
struct IssueRowTests {
    static let header = #"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"topk"}"#

    static func trace(_ tokenLines: [String]) -> String {
        ([header, #"{"request":"r0"}"#] + tokenLines).joined(separator: "\n") + "\n"
    }

    /// Row 4: weights 0.562 + 0.437 sum to 0.999 as decimals (accepted) but to 0.99899998 as the float32 the binary
    /// form holds; convert wrote a file its own reader rejected. Both readers now apply one rule to the stored weights.
    @Test func convertWritesOnlyWhatTheReaderAccepts() throws {
        let input = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.562,0.437],[0.5,0.5]]}"#]),
                                   name: "w.moetrace.jsonl")
        let output = URL(fileURLWithPath: input).deletingLastPathComponent().appendingPathComponent("w.moetrace").path
        let convert = Fixtures.sim(["trace", "convert", input, output])
        #expect(convert.code == 0, "\(convert.err)")
        let back = Fixtures.sim(["trace", "stats", output])
        #expect(back.code == 0, "the converted file does not read back: \(back.err)")
        // Just outside the rule, both readers refuse it alike.
        let outside = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.56,0.4389],[0.5,0.5]]}"#]),
                                     name: "o.moetrace.jsonl")
        let refused = Fixtures.sim(["trace", "stats", outside])
        #expect(refused.code == 1 && refused.err.contains("field 'weights[0]': weights sum to 0.9989"), "\(refused.err)")
    }

    /// Row 5: a 2.2 GB line without a newline was held whole (4.2 GB resident). Lines are bounded; the bound is
    /// small here so the test stays fast.
    @Test func aLineLongerThanTheLimitIsAnErrorWithoutReadingItAll() throws {
        let path = Fixtures.write("short\n" + String(repeating: "x", count: 50_000) + "\nnot reached\n", name: "long.jsonl")
        let lines = try LineReader(path: path, maxLineBytes: 4096)
        #expect(try lines.nextLine()?.count == 5)
        let error = #expect(throws: MoESimError.self) { _ = try lines.nextLine() }
        #expect(error?.description == "\(path):2: line is longer than 4.0 KiB, more than moe-sim reads (hint: is this a JSONL file? every line ends with a newline)")
        #expect(LineReader.defaultMaxLineBytes == 1 << 28)
        // No newline at all, beyond the first buffer: refused after reading at most twice the limit.
        let endless = Fixtures.write(String(repeating: "y", count: 6 << 20), name: "endless.jsonl")
        let reader = try LineReader(path: endless, maxLineBytes: 1 << 20)
        #expect(throws: MoESimError.self) { _ = try reader.nextLine() }
        #expect(reader.bytesRead <= 2 << 20 + 1, "read \(reader.bytesRead) bytes")
    }

    /// Row 9: `[]` with weights `[]` was accepted as a token that ran no expert, silently.
    @Test func anEmptySelectionIsAnError() {
        let path = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[],[2,3]],"weights":[[],[0.5,0.5]]}"#]),
                                  name: "empty.moetrace.jsonl")
        let r = Fixtures.sim(["trace", "stats", path])
        #expect(r.code == 1)
        #expect(r.err == "error: \(path):3: field 'experts[0]': an empty selection is not a top-k selection (hint: write null (and null weights) for a layer where no routed expert ran: it is replayed with none, and counted)\n")
    }

    /// Row 9 in the binary form: a record with a count of 0 (valid checksum) is refused too.
    @Test func anEmptySelectionInABinaryTraceIsAnError() {
        let path = FuzzRegressionTests.writeBinary(FuzzRegressionTests.binaryTrace(blocks: [[
            FuzzRegressionTests.requestRecord(#"{"request":"a"}"#),
            FuzzRegressionTests.tokenRecord(position: 0, cells: [[], [(2, 0.5), (3, 0.5)]])]]))
        let error = #expect(throws: MoESimError.self) { _ = try FuzzRegressionTests.readAll(path) }
        #expect(error?.description.contains("layer 0: an empty selection is not a top-k selection") == true, "\(String(describing: error))")
    }
}
