/// How a metric is shown in tables and plots: its display unit and scale. Stored values (results.json,
/// results.csv, expectations) are always in the report's base units (seconds, bytes, fractions).
public enum MetricFormat: Equatable, Sendable {
    /// Seconds shown as milliseconds.
    case milliseconds
    case seconds
    /// A fraction shown as a percentage.
    case percent
    /// A ratio shown as "1.234x".
    case speedup
    case integer
    /// Bytes shown in GB (10^9 B).
    case gigabytes
    /// A plain number with this many decimals.
    case decimal(Int)

    static let millisecondsPerSecond = 1_000.0
    static let percentPerFraction = 100.0
    static let bytesPerGigabyte = 1e9
    /// The most decimals `decimalN` formats accept.
    static let maximumDecimals = 9

    /// Names accepted in specs: ms, s, percent, speedup, integer, GB, decimal0 ... decimal9.
    public static func parse(_ name: String) -> MetricFormat? {
        switch name {
        case "ms": return .milliseconds
        case "s": return .seconds
        case "percent": return .percent
        case "speedup": return .speedup
        case "integer": return .integer
        case "GB": return .gigabytes
        default:
            guard name.hasPrefix("decimal"), let n = Int(name.dropFirst("decimal".count)), (0...maximumDecimals).contains(n) else { return nil }
            return .decimal(n)
        }
    }

    public static let names = ["ms", "s", "percent", "speedup", "integer", "GB", "decimal0...decimal9"]

    /// The format a metric of this kind gets when its spec names none.
    public static func defaultFor(_ kind: ExperimentSpec.MetricKind) -> MetricFormat {
        switch kind {
        case .count: return .integer
        case .time: return .milliseconds
        case .ratio, .label: return .decimal(4)
        }
    }

    /// Display value = stored value x scale.
    public var scale: Double {
        switch self {
        case .milliseconds: return MetricFormat.millisecondsPerSecond
        case .percent: return MetricFormat.percentPerFraction
        case .gigabytes: return 1 / MetricFormat.bytesPerGigabyte
        default: return 1
        }
    }

    /// The unit shown after a column or axis title, if any.
    public var unit: String? {
        switch self {
        case .milliseconds: return "ms"
        case .seconds: return "s"
        case .percent: return "%"
        case .speedup: return "x"
        case .gigabytes: return "GB"
        case .integer, .decimal: return nil
        }
    }

    public var decimals: Int {
        switch self {
        case .milliseconds, .speedup: return 3
        case .seconds: return 4
        case .percent: return 1
        case .integer: return 0
        case .gigabytes: return 3
        case let .decimal(n): return n
        }
    }

    /// The value as a table cell shows it (unit in the column title, except the speedup's "x").
    public func display(_ value: Double) -> String {
        let text = FixedDecimal.format(value * scale, decimals: decimals)
        return self == .speedup ? text + "x" : text
    }
}
