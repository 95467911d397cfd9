/// A cache policy whose experts, once loaded, stay for the whole run: a static placement. Fiddler places such a set
/// on the GPU before inference; the `static` cache loads each pinned expert on its first use instead (so every policy
/// starts from the same empty or filled cache), and a miss policy that would otherwise run that first use on the CPU
/// asks this to load it and keep it.
public protocol PinnedPlacement: AnyObject {
    /// Whether `key` (layer x experts + expert) belongs to the placement.
    func pins(_ key: Int) -> Bool
}

extension StaticHotSetPolicy: PinnedPlacement {
    public func pins(_ key: Int) -> Bool { pinnedKeys.contains(key) }
}
