/// Bounds on what one `sim trace synth` or `sim serve` may produce, checked before anything is written: without
/// them, `--tokens 99999999999` wrote 25 GB in ten minutes before it was stopped. Each refusal names the bound.
enum SynthesisLimits {
    /// Tokens one synthesized trace holds in all: 2^24, about 13 GB of JSONL for Mixtral-8x7B (~800 bytes a token),
    /// far beyond any published routing trace. Per request, the same as a profile's drawn lengths.
    static let maxTokens = SyntheticProfile.LengthDistribution.maxTokens
    /// Requests one command makes: 2^20, beyond any serving benchmark.
    static let maxRequests = 1 << 20

    /// `requests` requests of at most `tokensPerRequest` tokens each must stay within `maxTokens`.
    static func checkTotal(requests: Int, tokensPerRequest: Int, option: String) throws {
        let total = Double(requests) * Double(tokensPerRequest)
        guard total <= Double(maxTokens) else {
            throw MoESimError(field: option, "\(requests) requests x \(tokensPerRequest) tokens = \(JSONValue.format(total)) tokens, more than one trace holds (at most \(maxTokens), about 13 GB of JSONL for Mixtral)",
                              hint: "synthesize fewer or shorter requests, or several traces")
        }
    }
}
