/// MoE-Infinity's Expert Activation Matrices (peers.md §1.2; `moe_infinity/memory/expert_tracer.py`): one layers x
/// experts matrix of token counts per request, and a bounded collection of completed ones searched by similarity.
///
/// Similarity of the current (partial) matrix to a stored one = the mean, over the compared rows, of the cosine of
/// the two rows (`ExpertTracer.find_most_similar`: `CosineSimilarity(dim=2)` then a mean over layers; its L1
/// normalisation of each row does not change a row's cosine). A row that is all zero on either side counts 0 (the
/// code's `nan_to_num` and eps). Which rows are compared is `Rows`. Ties go to the lowest slot (torch `argmin`).
/// Every match counts as an access of the matched entry (`collection_access[min_idx] += 1`).
struct ExpertActivationCollection {
    /// Which rows of the current matrix, at layer l, are compared with the stored ones.
    enum Rows: String, CaseIterable {
        /// Rows 0...l: the layers this pass has routed so far (the paper's reading: match on what is known).
        case seen
        /// Rows l+1..<L, the rest (what the released code computes: it masks the stored rows 0...l to a uniform row,
        /// the same for every entry, so only the later rows, filled by the request's earlier tokens, tell entries apart).
        case code
    }

    let capacity: Int
    let layers: Int
    let experts: Int
    /// Stored matrices, row-major (`layer * experts + expert`), and the norm of each of their rows.
    private(set) var matrices: [[Double]] = []
    private var rowNorms: [[Double]] = []
    /// Accesses of each stored entry: 1 when stored, +1 per match.
    private(set) var accesses: [Int] = []
    /// Cosine of each (entry, row) between the current matrix and the entry, refreshed per row as it changes.
    private var rowCosine: [[Double]] = []
    private(set) var stored = 0
    private(set) var replaced = 0

    init(capacity: Int, layers: Int, experts: Int) {
        self.capacity = capacity
        self.layers = layers
        self.experts = experts
    }

    var isEmpty: Bool { matrices.isEmpty }
    var count: Int { matrices.count }

    /// Stores a completed request's matrix: in a free slot while there is one, else over the least-accessed entry
    /// (lowest slot on ties), as `ExpertTracer.finish_entry` does (no persistent entries here).
    mutating func store(_ matrix: [Double]) {
        guard capacity > 0, matrix.contains(where: { $0 > 0 }) else { return }
        let norms = (0..<layers).map { l in ExpertActivationCollection.norm(matrix, row: l, experts: experts) }
        stored += 1
        if matrices.count < capacity {
            matrices.append(matrix)
            rowNorms.append(norms)
            accesses.append(1)
            rowCosine.append(Array(repeating: 0, count: layers))
            return
        }
        var slot = 0
        for i in 1..<accesses.count where accesses[i] < accesses[slot] { slot = i }
        matrices[slot] = matrix
        rowNorms[slot] = norms
        accesses[slot] = 1
        rowCosine[slot] = Array(repeating: 0, count: layers)
        replaced += 1
    }

    static func norm(_ m: [Double], row: Int, experts: Int) -> Double {
        var s = 0.0
        for e in 0..<experts { s += m[row * experts + e] * m[row * experts + e] }
        return s.squareRoot()
    }

    /// Recomputes the cosines of `rows` of `current` (norms `currentNorms`) against every entry.
    mutating func refresh(_ current: [Double], currentNorms: [Double], rows: Range<Int>) {
        for i in matrices.indices {
            for l in rows {
                let denominator = currentNorms[l] * rowNorms[i][l]
                guard denominator > 0 else { rowCosine[i][l] = 0; continue }
                var dot = 0.0
                let base = l * experts
                for e in 0..<experts { dot += current[base + e] * matrices[i][base + e] }
                rowCosine[i][l] = dot / denominator
            }
        }
    }

    /// The slot of the entry most similar at `layer` (by the cosines last refreshed), counted as an access; nil when
    /// the collection is empty.
    mutating func bestMatch(layer: Int, rows: Rows) -> Int? {
        guard !matrices.isEmpty else { return nil }
        let compared = rows == .seen ? 0..<(layer + 1) : (layer + 1)..<layers
        var best = 0, bestScore = -Double.infinity
        for i in matrices.indices {
            var sum = 0.0
            for l in compared { sum += rowCosine[i][l] }
            let score = compared.isEmpty ? 0 : sum / Double(compared.count)
            if score > bestScore { best = i; bestScore = score }
        }
        accesses[best] += 1
        return best
    }

    func similarity(slot: Int, layer: Int, rows: Rows) -> Double {
        let compared = rows == .seen ? 0..<(layer + 1) : (layer + 1)..<layers
        guard !compared.isEmpty else { return 0 }
        return compared.reduce(0) { $0 + rowCosine[slot][$1] } / Double(compared.count)
    }
}
