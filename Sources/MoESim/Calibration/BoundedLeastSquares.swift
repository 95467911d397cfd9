import Foundation

/// Levenberg-Marquardt for small bounded least-squares problems: minimise 1/2 |r(u)|^2 over a box lower <= u <= upper.
/// The Jacobian is taken by forward differences; a parameter at a bound whose gradient points out of the box is held
/// there for that step (projected steps). The damping is Levenberg's (a multiple of the identity, scaled by the mean of
/// diag(J'J)): calibration works in log-parameters, where every unit is "a factor e", so the identity is the natural
/// metric. Where the rows do not pin every parameter (fewer rows than parameters), the step is then the smallest
/// change in log space that fits: each parameter moves in proportion to its influence, and one that cannot move the
/// rows stays where it is. Deterministic: no randomness, and the same inputs give the same iterates.
public enum BoundedLeastSquares {
    public struct Options: Sendable {
        /// Forward-difference step, in the units of u (calibration: log of the parameter, so 0.01 is a 1 % change).
        public var differenceStep = 0.01
        public var maximumIterations = 40
        /// Stop when a step changes no parameter by more than this.
        public var stepTolerance = 1e-5
        /// Stop when the cost falls by less than this fraction of itself.
        public var costTolerance = 1e-9
        /// Stop when the cost is below this (an exact fit).
        public var absoluteCostTolerance = 1e-14
        public init() {}
    }

    public struct Solution: Sendable {
        public var u: [Double]
        public var residuals: [Double]
        /// The Jacobian at `u` (rows = residuals, columns = parameters).
        public var jacobian: [[Double]]
        public var cost: Double { 0.5 * residuals.reduce(0) { $0 + $1 * $1 } }
        public var iterations: Int
    }

    public static func minimize(_ f: ([Double]) throws -> [Double], start: [Double], lower: [Double], upper: [Double],
                                options: Options = Options()) throws -> Solution {
        let p = start.count
        precondition(lower.count == p && upper.count == p)
        var u = zip(zip(start, lower), upper).map { min(max($0.0, $0.1), $1) }
        var r = try f(u)
        var cost = halfSquare(r)
        var lambda = 1e-3
        var iterations = 0
        var jacobianAtU: [[Double]]? = nil
        iterate: while iterations < options.maximumIterations && cost > options.absoluteCostTolerance {
            iterations += 1
            let J = try jacobian(f, u: u, r: r, lower: lower, upper: upper, step: options.differenceStep)
            jacobianAtU = J
            let g = (0..<p).map { j in zip(J, r).reduce(0) { $0 + $1.0[j] * $1.1 } }
            let free = (0..<p).filter { j in
                !((u[j] <= lower[j] && g[j] > 0) || (u[j] >= upper[j] && g[j] < 0))
            }
            guard !free.isEmpty else { break }
            let A = free.map { a in free.map { b in J.reduce(0) { $0 + $1[a] * $1[b] } } }
            let meanDiagonal = max(free.indices.reduce(0) { $0 + A[$1][$1] } / Double(free.count), 1e-30)
            for _ in 0..<12 {
                var damped = A
                for i in free.indices { damped[i][i] += lambda * meanDiagonal }
                guard let delta = solve(damped, free.map { -g[$0] }) else { lambda *= 10; continue }
                var candidate = u
                for (k, j) in free.enumerated() { candidate[j] = min(max(u[j] + delta[k], lower[j]), upper[j]) }
                let moved = zip(candidate, u).map { abs($0 - $1) }.max() ?? 0
                if moved < options.stepTolerance { break iterate }
                let rNew = try f(candidate)
                let costNew = halfSquare(rNew)
                if costNew < cost {
                    let gain = cost - costNew
                    u = candidate; r = rNew; cost = costNew
                    jacobianAtU = nil
                    lambda = max(lambda / 10, 1e-9)
                    if gain < options.costTolerance * cost + 1e-18 { break iterate }
                    continue iterate
                }
                lambda *= 10
            }
            break
        }
        let J = try jacobianAtU ?? jacobian(f, u: u, r: r, lower: lower, upper: upper, step: options.differenceStep)
        return Solution(u: u, residuals: r, jacobian: J, iterations: iterations)
    }


    /// Forward differences; a parameter at its upper bound steps down instead.
    static func jacobian(_ f: ([Double]) throws -> [Double], u: [Double], r: [Double], lower: [Double], upper: [Double],
                         step: Double) throws -> [[Double]] {
        var J = Array(repeating: Array(repeating: 0.0, count: u.count), count: r.count)
        for j in u.indices {
            var shifted = u
            let h = u[j] + step <= upper[j] ? step : -step
            shifted[j] += h
            let rShifted = try f(shifted)
            for i in r.indices { J[i][j] = (rShifted[i] - r[i]) / h }
        }
        return J
    }

    static func halfSquare(_ r: [Double]) -> Double { 0.5 * r.reduce(0) { $0 + $1 * $1 } }

    /// Gaussian elimination with partial pivoting; nil when singular.
    static func solve(_ matrix: [[Double]], _ vector: [Double]) -> [Double]? {
        let n = vector.count
        var a = matrix, b = vector
        for column in 0..<n {
            guard let pivot = (column..<n).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }), abs(a[pivot][column]) > 1e-300 else { return nil }
            a.swapAt(column, pivot); b.swapAt(column, pivot)
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                if factor == 0 { continue }
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = Array(repeating: 0.0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            let sum = ((row + 1)..<n).reduce(b[row]) { $0 - a[row][$1] * x[$1] }
            x[row] = sum / a[row][row]
        }
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}
