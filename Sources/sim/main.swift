import Foundation
import MoESim

var out = ""
var err = ""
let code = CommandLineTool.run(Array(CommandLine.arguments.dropFirst()), out: &out, err: &err)
FileHandle.standardOutput.write(Data(out.utf8))
FileHandle.standardError.write(Data(err.utf8))
exit(code)
