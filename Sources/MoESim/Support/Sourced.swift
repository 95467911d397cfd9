/// A figure together with where it came from. Every hardware number in moe-sim is one of these,
/// so a report can always say which datasheet or measurement a result rests on.
public struct Sourced<Value: Codable & Sendable>: Codable, Sendable {
    public var value: Value
    /// URL or named document.
    public var source: String
    /// True where the figure is an assumption or could not be checked against a primary source.
    public var unconfirmed: Bool?
    public var note: String?

    public init(_ value: Value, source: String, unconfirmed: Bool? = nil, note: String? = nil) {
        self.value = value
        self.source = source
        self.unconfirmed = unconfirmed
        self.note = note
    }
}
