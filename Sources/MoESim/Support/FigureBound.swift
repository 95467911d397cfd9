/// The physical range of one figure of a preset, declared once in the preset's bounds table (`HardwareBounds`,
/// `RuntimeBounds`) with why those are its limits, and checked when the preset is read. A value inside its range
/// can never make the engine trap or a report go infinite: the engine's preconditions are for simulator bugs only.
public struct FigureBound<Root>: Sendable {
    /// Dotted path of the figure in the JSON file (without `.value`).
    public let path: String
    public let range: ClosedRange<Double>
    public let unit: String
    /// A count: only whole numbers.
    public let integer: Bool
    /// Why the range is what it is (shown in the error's hint).
    public let why: String
    let read: @Sendable (Root) -> Double?

    public init(_ path: String, _ range: ClosedRange<Double>, _ unit: String, integer: Bool = false, why: String,
                _ read: @escaping @Sendable (Root) -> Double?) {
        self.path = path
        self.range = range
        self.unit = unit
        self.integer = integer
        self.why = why
        self.read = read
    }

    public func check(_ root: Root, file: String) throws {
        guard let value = read(root) else { return }
        let field = path + ".value"
        let shown = JSONValue.format(value)
        let bounds = "\(JSONValue.format(range.lowerBound)) ... \(JSONValue.format(range.upperBound))" + (unit.isEmpty ? "" : " \(unit)")
        guard value.isFinite, range.contains(value) else {
            throw MoESimError(file: file, field: field, "\(shown) is outside the physical range \(bounds)", hint: why)
        }
        if integer, value != value.rounded() {
            throw MoESimError(file: file, field: field, "must be a whole number in \(bounds), found \(shown)")
        }
    }
}

extension Array {
    /// Checks every bound of a table, in order; the first figure out of its range is the error.
    public func check<Root>(_ root: Root, file: String) throws where Element == FigureBound<Root> {
        for bound in self { try bound.check(root, file: file) }
    }
}
