/// How often two experts of a layer are selected by the same token, counted over a profiling prefix of the trace
/// (BuddyMoE's offline co-activation analysis, peers.md §1.18), and each expert's buddies: the other experts of its
/// layer ranked by that count (ties to the lower id), those never co-activated left out.
public struct CoActivationProfile: Sendable {
    public let layers: Int
    public let experts: Int
    /// Tokens read (the prefix actually available).
    public let tokens: Int
    /// counts[(layer * experts + a) * experts + b]: tokens selecting both a and b at `layer`.
    let counts: [Int]
    /// buddies[layer * experts + e]: at most `maxBuddies` partners, most co-activated first.
    public let buddies: [[Int]]

    /// Reads passes from `source` until `prefixTokens` tokens (or the end), counting the recorded experts of each cell.
    public init(source: PassSource, prefixTokens: Int, maxBuddies: Int) throws {
        let header = source.header
        self.layers = header.layers
        self.experts = header.experts
        let full = header.weights == .full
        let layers = header.layers, experts = header.experts
        var counts = Array(repeating: 0, count: layers * experts * experts)
        var pass = Pass()
        var read = 0
        reading: while read < prefixTokens, try source.nextPass(into: &pass) {
            for t in 0..<pass.tokenCount {
                guard read < prefixTokens else { break reading }
                read += 1
                for layer in 0..<layers {
                    _ = RoutingCell.with(pass.tokens[t], layer: layer, weightsAreFull: full) { cell in
                        let n = cell.experts.count
                        for i in 0..<n {
                            for j in 0..<n where j != i {
                                counts[(layer * experts + Int(cell.experts[i])) * experts + Int(cell.experts[j])] += 1
                            }
                        }
                    }
                }
            }
        }
        tokens = read
        self.counts = counts
        var buddies: [[Int]] = []
        buddies.reserveCapacity(layers * experts)
        for layer in 0..<layers {
            for e in 0..<experts {
                let row = (layer * experts + e) * experts
                let partners = (0..<experts).filter { $0 != e && counts[row + $0] > 0 }
                    .sorted { counts[row + $0] > counts[row + $1] || (counts[row + $0] == counts[row + $1] && $0 < $1) }
                buddies.append(Array(partners.prefix(maxBuddies)))
            }
        }
        self.buddies = buddies
    }

    /// Tokens that selected both `a` and `b` at `layer` in the prefix.
    public func count(layer: Int, _ a: Int, _ b: Int) -> Int { counts[(layer * experts + a) * experts + b] }
}
