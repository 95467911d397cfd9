import Foundation
#if canImport(Glibc)
import Glibc
#endif

// libFuzzer entry points for moe-sim's parsers. One binary, many targets: MOESIM_FUZZ_TARGET names the one to run
// (`Fuzz/fuzz.sh` sets it; `moe-fuzz` with MOESIM_FUZZ_TARGET=list prints them). Built by `make fuzz` with
// `swiftc -sanitize=fuzzer,address` over Sources/MoESim plus this folder, as one module, so internal parsers
// (the recorder formats) are reachable.
//
// Each input is written to a scratch file and read the way `sim` reads a user's file. What counts as a finding:
// a crash (trap, sanitizer report), running out of memory or time (libFuzzer's limits), an error that is not a
// MoESimError (it would reach the user without a file or field), an error that does not fit on one line, and a
// broken round trip (something read, written back and read again must read the same).

/// Where the harness keeps its scratch files and the fixed inputs targets use.
final class FuzzEnvironment {
    let scratch: String
    let resources: String
    let modelPath: String
    let hardwarePath: String
    /// A tiny Mixtral-shaped trace (2 requests, 4 prefill + 6 decode tokens each) for the targets that run `sim`.
    let toyTracePath: String
    /// `sim --json` output on the toy trace: the report experiment metrics are taken from.
    let sampleReport: JSONValue
    /// The presets the `figures` target changes the numbers of.
    lazy var figurePresets: [FuzzFigures.Preset] = FuzzFigures.presets(self)

    init() {
        resources = FuzzEnvironment.locateResources()
        setenv("MOESIM_RESOURCES", resources, 1)
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        scratch = URL(fileURLWithPath: base).appendingPathComponent("moesim-fuzz-\(getpid())").path
        try? FileManager.default.removeItem(atPath: scratch)
        try! FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        modelPath = resources + "/models/mixtral-8x7b.json"
        hardwarePath = resources + "/hardware/rtx4090.json"
        toyTracePath = scratch + "/toy.moetrace.jsonl"
        let model = try! ModelCatalog.load(path: modelPath)
        var generator = SyntheticTraceGenerator(layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: 5)
        let header = generator.header(model: model.name)
        let writer = TraceWriter()
        writer.write(header: header)
        var record = generator.makeRecord()
        for r in 0..<2 {
            writer.write(request: RequestInfo(id: "toy/\(r)", task: "toy", promptTokens: 4, outputTokens: 6))
            for p in 0..<10 {
                generator.next(into: &record)
                record.phase = p < 4 ? .prefill : .decode
                record.position = p
                writer.write(token: record, requestID: "toy/\(r)", header: header)
            }
        }
        try! Data(writer.text.utf8).write(to: URL(fileURLWithPath: toyTracePath))
        var out = "", err = ""
        let code = CommandLineTool.run(["--trace", toyTracePath, "--model", modelPath, "--hardware", hardwarePath, "--quant", "hqq2",
                                        "--cache", "lru-per-layer:4", "--json"], out: &out, err: &err)
        precondition(code == 0, "the harness's sample run failed: \(err)")
        sampleReport = try! JSONValue.parse(out)
        let scratchPath = scratch
        atexit_paths.append(scratchPath)
        atexit { for path in atexit_paths { try? FileManager.default.removeItem(atPath: path) } }
    }

    /// MOESIM_RESOURCES, else Sources/MoESim/Resources next to this file's folder.
    static func locateResources() -> String {
        if let set = ProcessInfo.processInfo.environment["MOESIM_RESOURCES"], !set.isEmpty { return set }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/MoESim/Resources").path
    }

    /// Writes `bytes` to a scratch file named `name` (replacing the last input's) and returns its path.
    func file(_ name: String, _ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let path = scratch + "/" + name
        guard let handle = fopen(path, "wb") else { fatalError("harness: cannot write \(path)") }
        if let base = bytes.baseAddress, bytes.count > 0 { fwrite(base, 1, bytes.count, handle) }
        fclose(handle)
        return path
    }

    func path(_ name: String) -> String { scratch + "/" + name }
}

nonisolated(unsafe) var atexit_paths: [String] = []

/// A finding that is not a crash by itself: stop the fuzzer so the input is saved.
func finding(_ message: String) -> Never {
    FileHandle.standardError.write(Data("moe-fuzz finding: \(MoESimError.oneLine(message))\n".utf8))
    abort()
}

/// Every error a parser throws must be a one-line MoESimError with a message (that is what `sim` prints).
func expectUserError(_ error: Error, _ what: String) {
    guard let e = error as? MoESimError else {
        finding("\(what): a \(type(of: error)) escaped instead of a MoESimError: \(error)")
    }
    if e.message.isEmpty { finding("\(what): a MoESimError without a message") }
    if e.description.contains("\n") { finding("\(what): a multi-line error: \(e.description)") }
}

/// Runs `body`; a thrown error is checked and swallowed (bad input is expected), anything else is a finding.
func tolerate(_ what: String, _ body: () throws -> Void) {
    do { try body() } catch { expectUserError(error, what) }
}

/// Runs `sim` in-process; a failure must be one `error:` line.
@discardableResult
func runSim(_ arguments: [String]) -> (code: Int32, out: String) {
    var out = "", err = ""
    let code = CommandLineTool.run(arguments, out: &out, err: &err)
    if code != 0 {
        let lines = err.split(separator: "\n", omittingEmptySubsequences: false)
        guard err.hasPrefix("error: "), lines.count == 2, lines[1].isEmpty, err.count > "error: \n".count else {
            finding("sim \(arguments.joined(separator: " ")): failure output is not one 'error:' line: \(err)")
        }
    }
    return (code, out)
}

struct FuzzTarget {
    let name: String
    let summary: String
    let run: (UnsafeBufferPointer<UInt8>, FuzzEnvironment) -> Void
}

nonisolated(unsafe) var selectedTarget: FuzzTarget?
nonisolated(unsafe) var environment: FuzzEnvironment?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    let wanted = ProcessInfo.processInfo.environment["MOESIM_FUZZ_TARGET"] ?? ""
    if wanted == "list" || wanted.isEmpty {
        var text = wanted.isEmpty ? "moe-fuzz: set MOESIM_FUZZ_TARGET to one of:\n" : ""
        for t in fuzzTargets { text += t.name.padding(toLength: 22, withPad: " ", startingAt: 0) + t.summary + "\n" }
        FileHandle.standardError.write(Data(text.utf8))
        exit(wanted.isEmpty ? 2 : 0)
    }
    let env = FuzzEnvironment()
    if wanted == "make-seeds" {
        guard let folder = ProcessInfo.processInfo.environment["MOESIM_FUZZ_SEEDS"] else { fatalError("make-seeds needs MOESIM_FUZZ_SEEDS=DIR") }
        FuzzSeeds.make(into: folder, env)
        exit(0)
    }
    guard let target = fuzzTargets.first(where: { $0.name == wanted }) else {
        FileHandle.standardError.write(Data("moe-fuzz: unknown target '\(wanted)'; MOESIM_FUZZ_TARGET=list shows them\n".utf8))
        exit(2)
    }
    selectedTarget = target
    environment = env
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget, let env = environment else { return 0 }
    target.run(UnsafeBufferPointer(start: data, count: size), env)
    return 0
}
