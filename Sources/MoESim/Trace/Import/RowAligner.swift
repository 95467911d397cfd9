/// Places a layer's renumbered rows (a recording that dropped some rows and closed the gaps) into the token
/// slots of another recording of the same run that knows where each token belongs but has holes.
///
/// Every row must go to a later slot than the row before it; a row may sit on a hole, or on a slot whose known
/// cell has the same routing, never on one that disagrees. Among the placements allowed, those agreeing with
/// the most known cells are kept (a row is where its twin is, when it can be). A hole is filled only when
/// every such best placement puts the same row there; anything less would be a guess.
/// Cost: rows x (slots - rows + 1), a narrow band, since a row can only be as many slots late as rows were lost.
enum RowAligner {
    struct Result {
        /// (slot, row index) for each hole the rows fill unambiguously.
        var fills: [(slot: Int, row: Int)]
        /// Rows no best placement pins to one slot.
        var ambiguousRows: Int
        /// False when the rows cannot be placed at all without disagreeing with a known cell.
        var consistent: Bool
        /// True when the placement table (rows x band) would be too large to build; nothing is placed.
        var tooLarge = false
    }

    /// Entries of the placement tables at most (two tables of Ints).
    static let maxTableEntries = 1 << 24

    private static let impossible = Int.min / 4

    /// `known[j]` is the anchor's cell at slot j (nil: hole); `rows` the renumbered rows in order.
    static func align(rows: [ImportedCell], into known: [ImportedCell?]) -> Result {
        let m = rows.count, n = known.count
        guard m > 0 else { return Result(fills: [], ambiguousRows: 0, consistent: true) }
        guard m <= n else { return Result(fills: [], ambiguousRows: 0, consistent: false) }
        let band = n - m + 1
        guard m * band <= maxTableEntries else { return Result(fills: [], ambiguousRows: 0, consistent: false, tooLarge: true) }
        // Row i lies at slot i + k, 0 <= k < band.
        func score(_ i: Int, _ k: Int) -> Int {
            guard let cell = known[i + k] else { return 0 }
            return cell.sameRouting(as: rows[i]) ? 1 : impossible
        }
        func add(_ a: Int, _ b: Int) -> Int { a <= impossible || b <= impossible ? impossible : a + b }
        // prefix[i][k]: best agreement of rows 0...i with row i at shift k; suffix likewise for rows i..<m.
        var prefix = Array(repeating: Array(repeating: impossible, count: band), count: m)
        var suffix = prefix
        for i in 0..<m {
            var bestBefore = i == 0 ? 0 : impossible
            for k in 0..<band {
                if i > 0 { bestBefore = max(bestBefore, prefix[i - 1][k]) }
                prefix[i][k] = add(score(i, k), bestBefore)
            }
        }
        for i in stride(from: m - 1, through: 0, by: -1) {
            var bestAfter = i == m - 1 ? 0 : impossible
            for k in stride(from: band - 1, through: 0, by: -1) {
                if i < m - 1 { bestAfter = max(bestAfter, suffix[i + 1][k]) }
                suffix[i][k] = add(score(i, k), bestAfter)
            }
        }
        let best = prefix[m - 1].max()!
        guard best > impossible else { return Result(fills: [], ambiguousRows: 0, consistent: false) }
        var result = Result(fills: [], ambiguousRows: 0, consistent: true)
        for i in 0..<m {
            let places = (0..<band).filter { k in
                let s = score(i, k)
                return s > impossible && prefix[i][k] > impossible && suffix[i][k] > impossible && prefix[i][k] + suffix[i][k] - s == best
            }
            if places.count == 1 {
                if known[i + places[0]] == nil { result.fills.append((i + places[0], i)) }
            } else {
                result.ambiguousRows += 1
            }
        }
        return result
    }
}
